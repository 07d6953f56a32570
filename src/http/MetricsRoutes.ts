// `/metrics` as a fast route (a scrape is prom-client formatting what is in memory: no fiber, no log line, no
// dependency traffic), and the server's request counter backed by the metrics.
import * as HttpApi from "@effect/platform/HttpApi"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Metrics } from "../Metrics.js"
import { DashboardApi, openApiPath } from "./Api.js"
import { type FastAnswer, type FastRoute, FastRoutes, RequestCounter } from "./Server.js"
import { statusTokenOf } from "./StatusToken.js"

export const metricsPath = "/metrics"

/** The paths the Effect app answers, each its own `route` label; anything else is counted as "other". */
const effectAppPaths: ReadonlyArray<string> = (() => {
  const paths = new Set([openApiPath])
  HttpApi.reflect(DashboardApi, { onGroup: () => {}, onEndpoint: ({ endpoint }) => void paths.add(endpoint.path) })
  return [...paths]
})()

/** The routes `routes` provides, and `/metrics`. */
export const withMetricsRoute = <E, R>(
  routes: Layer.Layer<FastRoutes, E, R>
): Layer.Layer<FastRoutes, E, R | Metrics> =>
  Layer.effect(
    FastRoutes,
    Effect.gen(function*() {
      const others = yield* FastRoutes
      const metrics = yield* Metrics
      const token = yield* statusTokenOf
      const headers = { "content-type": metrics.contentType, "cache-control": "no-store" }
      // Without the status token, a scrape gets every series but those that name a tenant.
      const scrape: FastRoute = (request) =>
        metrics.scrape({ tenantLabels: token.authorized(request.header("authorization")) }).then((
          body
        ): FastAnswer => ({
          status: 200,
          headers,
          body
        }))
      return new Map([...others, [metricsPath, scrape]])
    })
  ).pipe(Layer.provide(routes))

export const RequestCounterLive = Layer.effect(
  RequestCounter,
  Effect.map(Metrics, ({ requests }) => {
    const effectApp = new Map(effectAppPaths.map((path) => [path, requests.route(path)]))
    const other = requests.route("other")
    return {
      fastRoute: requests.route,
      effectApp: (path, status) => (effectApp.get(path) ?? other)(status)
    }
  })
)
