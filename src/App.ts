// The whole service as one layer, given the layers of its dependencies, its readiness settings and its server.
import type * as HttpServer from "@effect/platform/HttpServer"
import * as Layer from "effect/Layer"
import { HttpLive } from "./http/Http.js"
import { Database } from "./layers/Database.js"
import { orNotInitialised } from "./layers/Dependency.js"
import { Redis } from "./layers/Redis.js"
import { Readiness, type ReadinessSettings } from "./Readiness.js"

export interface AppLayers<DatabaseError, RedisError, SettingsError, ServerError> {
  readonly database: Layer.Layer<Database, DatabaseError>
  readonly redis: Layer.Layer<Redis, RedisError>
  readonly settings: Layer.Layer<ReadinessSettings, SettingsError>
  readonly server: Layer.Layer<
    HttpServer.HttpServer | Exclude<Layer.Layer.Context<typeof HttpLive>, Readiness>,
    ServerError,
    Readiness
  >
}

export const make = <DatabaseError, RedisError, SettingsError, ServerError>(
  layers: AppLayers<DatabaseError, RedisError, SettingsError, ServerError>
) => {
  const ReadinessLive = Readiness.Default.pipe(
    Layer.provide([
      orNotInitialised(Database, layers.database, Database.NotInitialised),
      orNotInitialised(Redis, layers.redis, Redis.NotInitialised),
      layers.settings
    ])
  )
  // The server and readiness stay in the output so tests can find the bound address and the snapshot.
  return HttpLive.pipe(Layer.provideMerge(layers.server), Layer.provideMerge(ReadinessLive))
}
