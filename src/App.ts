// The whole service as one layer, given its dependencies' checks and its readiness settings, on a listener and a
// shutdown state provided beneath it (`Edge.ts`): main.ts opens those first, before the app is even loaded.
import * as Layer from "effect/Layer"
import { HttpLive } from "./http/Http.js"
import { RequestCounterLive, withMetricsRoute } from "./http/MetricsRoutes.js"
import { ProbeRoutesLive } from "./http/Probes.js"
import * as Server from "./http/Server.js"
import { withStatusPageRoutes } from "./http/StatusPage.js"
import type { StatusToken } from "./http/StatusToken.js"
import { Metrics } from "./Metrics.js"
import { type Dependencies, Readiness, type ReadinessSettings } from "./Readiness.js"
import { Status } from "./Status.js"
import { Tenants } from "./Tenants.js"

export interface AppLayers<D extends Dependencies, SettingsError, TenantsError = never, TokenError = never> {
  /** One check per dependency, in report order: `Dependency.check(Database, Database.Live)`. */
  readonly dependencies: D
  readonly settings: Layer.Layer<ReadinessSettings, SettingsError>
  /**
   * Per-tenant readiness (TENANTS_FILE): adds the `tenants` check, `/readyz/tenants/<id>`, the tenant metrics and the
   * tenants in /status. Without it the app is exactly the single-tenant one.
   */
  readonly tenants?: Layer.Layer<Tenants, TenantsError, ReadinessSettings>
  /** STATUS_TOKEN; without it nothing needs a token. */
  readonly token?: Layer.Layer<StatusToken, TokenError>
}

export const make = <D extends Dependencies, SettingsError, TenantsError = never, TokenError = never>(
  layers: AppLayers<D, SettingsError, TenantsError, TokenError>
) => {
  // The optional services are read with `serviceOption`: each part that uses one is given it (a layer provided in
  // several places is still built once).
  const tenants = layers.tenants
  const optional = <A, E, R>(layer: Layer.Layer<A, E, R>) => {
    const withToken = layers.token === undefined ? layer : Layer.provide(layer, layers.token)
    return tenants === undefined ? withToken : Layer.provide(withToken, tenants)
  }
  const ReadinessLive = (tenants === undefined
    ? Readiness.layer(layers.dependencies)
    : Readiness.layer([...layers.dependencies, Tenants.dependency]).pipe(Layer.provide(tenants))).pipe(
      Layer.provideMerge(layers.settings)
    )
  // Metrics and the SLA report observe the rounds; the server counts requests into the metrics.
  const ObservedLive = optional(Layer.merge(Metrics.layer, Status.layer))
  const ServerLive = Server.layer.pipe(
    // The fast routes stay in the output: the app answers a method they do not serve with 405.
    Layer.provideMerge(optional(withStatusPageRoutes(withMetricsRoute(ProbeRoutesLive)))),
    Layer.provide(RequestCounterLive)
  )
  // Readiness, its settings, the metrics, the report and the server stay in the output: tests find the bound
  // address and the state there. The server is built last, so it closes the listener before the rest is released.
  return optional(HttpLive).pipe(
    Layer.provideMerge(ServerLive),
    Layer.provideMerge(ObservedLive),
    Layer.provideMerge(ReadinessLive)
  )
}
