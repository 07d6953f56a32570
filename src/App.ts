// The whole service as one layer, given its dependencies' checks and its readiness settings, on a listener and a
// shutdown state provided beneath it (`Edge.ts`): main.ts opens those first, before the app is even loaded.
import * as Layer from "effect/Layer"
import { HttpLive } from "./http/Http.js"
import { RequestCounterLive, withMetricsRoute } from "./http/MetricsRoutes.js"
import { ProbeRoutesLive } from "./http/Probes.js"
import * as Server from "./http/Server.js"
import { withStatusPageRoutes } from "./http/StatusPage.js"
import { Metrics } from "./Metrics.js"
import { type Dependencies, Readiness, type ReadinessSettings } from "./Readiness.js"
import { Status } from "./Status.js"

export interface AppLayers<D extends Dependencies, SettingsError> {
  /** One check per dependency, in report order: `Dependency.check(Database, Database.Live)`. */
  readonly dependencies: D
  readonly settings: Layer.Layer<ReadinessSettings, SettingsError>
}

export const make = <D extends Dependencies, SettingsError>(layers: AppLayers<D, SettingsError>) => {
  const ReadinessLive = Readiness.layer(layers.dependencies).pipe(Layer.provideMerge(layers.settings))
  // Metrics and the SLA report observe the rounds; the server counts requests into the metrics.
  const ObservedLive = Layer.merge(Metrics.layer, Status.layer)
  const ServerLive = Server.layer.pipe(
    Layer.provide(Layer.merge(withStatusPageRoutes(withMetricsRoute(ProbeRoutesLive)), RequestCounterLive))
  )
  // Readiness, its settings, the metrics, the report and the server stay in the output: tests find the bound
  // address and the state there. The server is built last, so it closes the listener before the rest is released.
  return HttpLive.pipe(
    Layer.provideMerge(ServerLive),
    Layer.provideMerge(ObservedLive),
    Layer.provideMerge(ReadinessLive)
  )
}
