// The whole service as one layer, given its dependencies' checks, its readiness settings and its server.
import type * as HttpServer from "@effect/platform/HttpServer"
import * as Layer from "effect/Layer"
import { HttpLive } from "./http/Http.js"
import { ProbeRoutesLive } from "./http/Probes.js"
import type { FastRoutes } from "./http/Server.js"
import { type Dependencies, Readiness, type ReadinessSettings } from "./Readiness.js"

export interface AppLayers<D extends Dependencies, SettingsError, ServerError> {
  /** One check per dependency, in report order: `Dependency.check(Database, Database.Live)`. */
  readonly dependencies: D
  readonly settings: Layer.Layer<ReadinessSettings, SettingsError>
  readonly server: Layer.Layer<
    HttpServer.HttpServer | Exclude<Layer.Layer.Context<typeof HttpLive>, Readiness>,
    ServerError,
    FastRoutes
  >
}

export const make = <D extends Dependencies, SettingsError, ServerError>(
  layers: AppLayers<D, SettingsError, ServerError>
) => {
  const ReadinessLive = Readiness.layer(layers.dependencies).pipe(Layer.provideMerge(layers.settings))
  const ServerLive = layers.server.pipe(Layer.provide(ProbeRoutesLive))
  // The server and readiness stay in the output so tests can find the bound address and the snapshot.
  return HttpLive.pipe(Layer.provideMerge(ServerLive), Layer.provideMerge(ReadinessLive))
}
