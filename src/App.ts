// The whole service as one layer, given its dependencies' checks, its settings and its server.
import type * as HttpServer from "@effect/platform/HttpServer"
import * as Layer from "effect/Layer"
import { HttpLive } from "./http/Http.js"
import { RequestCounterLive, withMetricsRoute } from "./http/MetricsRoutes.js"
import { ProbeRoutesLive } from "./http/Probes.js"
import type { FastRoutes } from "./http/Server.js"
import { withStatusPageRoutes } from "./http/StatusPage.js"
import { Metrics } from "./Metrics.js"
import { type Dependencies, Readiness, type ReadinessSettings } from "./Readiness.js"
import { Shutdown, type ShutdownSettings } from "./Shutdown.js"
import { Status } from "./Status.js"

export interface AppLayers<D extends Dependencies, SettingsError, ServerError> {
  /** One check per dependency, in report order: `Dependency.check(Database, Database.Live)`. */
  readonly dependencies: D
  readonly settings: Layer.Layer<ReadinessSettings | ShutdownSettings, SettingsError>
  readonly server: Layer.Layer<
    | HttpServer.HttpServer
    | Exclude<Layer.Layer.Context<typeof HttpLive>, Readiness | ReadinessSettings | Shutdown | Status>,
    ServerError,
    FastRoutes | Shutdown | ShutdownSettings
  >
}

export const make = <D extends Dependencies, SettingsError, ServerError>(
  layers: AppLayers<D, SettingsError, ServerError>
) => {
  const Base = Layer.merge(layers.settings, Shutdown.layer)
  const ReadinessLive = Readiness.layer(layers.dependencies).pipe(Layer.provideMerge(Base))
  // Metrics and the SLA report observe the rounds; the server counts requests into the metrics.
  const ObservedLive = Layer.merge(Metrics.layer, Status.layer)
  const ServerLive = layers.server.pipe(
    Layer.provide(Layer.merge(withStatusPageRoutes(withMetricsRoute(ProbeRoutesLive)), RequestCounterLive))
  )
  // Readiness, its settings, the shutdown state, the metrics, the report and the server stay in the output: main.ts
  // drains through them, and tests find the bound address and the state there.
  return HttpLive.pipe(
    Layer.provideMerge(ServerLive),
    Layer.provideMerge(ObservedLive),
    Layer.provideMerge(ReadinessLive)
  )
}
