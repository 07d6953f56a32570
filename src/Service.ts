// The service beyond its listener: loaded by main.ts once the listener is open (see src/main.ts).
import * as App from "./App.js"
import { Database } from "./layers/Database.js"
import * as Dependency from "./layers/Dependency.js"
import { Redis } from "./layers/Redis.js"
import { ReadinessSettings } from "./Readiness.js"

export const ServiceLive = App.make({
  dependencies: [
    Dependency.check(Database, Database.Live),
    Dependency.check(Redis, Redis.Live)
  ],
  settings: ReadinessSettings.Live
})
