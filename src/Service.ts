// The service beyond its listener: loaded by main.ts once the listener is open (see src/main.ts).
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as App from "./App.js"
import * as AppConfig from "./AppConfig.js"
import { StatusToken } from "./http/StatusToken.js"
import { Database } from "./layers/Database.js"
import * as Dependency from "./layers/Dependency.js"
import { Redis } from "./layers/Redis.js"
import { ReadinessSettings } from "./Readiness.js"
import * as TenantsLive from "./TenantsLive.js"

const dependencies = [
  Dependency.check(Database, Database.Live),
  Dependency.check(Redis, Redis.Live)
] as const

// Without TENANTS_FILE, the app is the single-tenant one, unchanged.
export const ServiceLive = Layer.unwrapEffect(
  Effect.map(AppConfig.tenantsFile, (file) =>
    Option.match(file, {
      onNone: () => App.make({ dependencies, settings: ReadinessSettings.Live, token: StatusToken.Live }),
      onSome: (path) =>
        App.make({
          dependencies,
          settings: ReadinessSettings.Live,
          tenants: TenantsLive.layer(path),
          token: StatusToken.Live
        })
    }))
)
