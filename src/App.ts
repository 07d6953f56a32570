// The whole service as one layer, given the layers of its dependencies, its readiness settings and its server.
import type * as HttpServer from "@effect/platform/HttpServer"
import type * as Layer from "effect/Layer"
import * as L from "effect/Layer"
import { HttpLive } from "./http/Http.js"
import { Database } from "./layers/Database.js"
import { orNotInitialised } from "./layers/Dependency.js"
import { Redis } from "./layers/Redis.js"
import { Readiness, type ReadinessSettings } from "./Readiness.js"

export interface AppLayers<E> {
  readonly database: Layer.Layer<Database, E>
  readonly redis: Layer.Layer<Redis, E>
  readonly settings: Layer.Layer<ReadinessSettings, E>
  readonly server: Layer.Layer<
    HttpServer.HttpServer | Exclude<Layer.Layer.Context<typeof HttpLive>, Readiness>,
    E,
    Readiness
  >
}

export const make = <E>(layers: AppLayers<E>) => {
  const ReadinessLive = Readiness.Default.pipe(
    L.provide([
      orNotInitialised(Database, layers.database, Database.NotInitialised),
      orNotInitialised(Redis, layers.redis, Redis.NotInitialised),
      layers.settings
    ])
  )
  return HttpLive.pipe(L.provide(layers.server), L.provide(ReadinessLive))
}
