// The one place the HTTP app is built. main.ts and the tests both use `HttpLive`; they differ only in the
// layers they provide beneath it.
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Readiness } from "../Readiness.js"
import { DashboardApi, healthzPath, openApiPath, readyzPath } from "./Api.js"
import { healthBody, readinessBody } from "./Probes.js"
import { targetOf } from "./Server.js"
import { StatusLive } from "./StatusHttp.js"

const json = (body: string) =>
  HttpServerResponse.text(body, { contentType: "application/json", headers: { "cache-control": "no-store" } })

export const ProbesLive = HttpApiBuilder.group(DashboardApi, "probes", (handlers) =>
  Effect.gen(function*() {
    const readiness = yield* Readiness
    return handlers
      .handle("healthz", () => Effect.succeed(json(healthBody)))
      .handle("readyz", () =>
        Effect.gen(function*() {
          const snapshot = yield* readiness.current
          return json(readinessBody(snapshot, yield* Clock.currentTimeMillis))
        }))
  }))

/** The methods each known path answers, read from the API definition; HEAD is served wherever GET is. */
const routes: ReadonlyMap<string, ReadonlyArray<string>> = (() => {
  const methods = new Map<string, Array<string>>([[openApiPath, ["GET", "HEAD"]]])
  HttpApi.reflect(DashboardApi, {
    onGroup: () => {},
    onEndpoint: ({ endpoint }) => {
      const added = endpoint.method === "GET" ? ["GET", "HEAD"] : [endpoint.method]
      methods.set(endpoint.path, [...(methods.get(endpoint.path) ?? []), ...added])
    }
  })
  return methods
})()

/**
 * A known path asked with a method it does not answer is a 405 with `Allow`; an unknown path stays a 404. A
 * catch-all route is the place for it: the router has already answered by the time a server middleware runs.
 */
const MethodNotAllowedLive = HttpApiBuilder.Router.use((router) =>
  router.all(
    "*",
    Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
      const allowed = routes.get(targetOf(request.url).path)
      return allowed === undefined
        ? HttpServerResponse.empty({ status: 404 })
        : HttpServerResponse.empty({ status: 405, headers: { allow: allowed.join(", ") } })
    })
  )
)

const isProbe = (request: HttpServerRequest.HttpServerRequest) => {
  const path = targetOf(request.url).path
  return path === healthzPath || path === readyzPath
}

export const ApiLive = HttpApiBuilder.api(DashboardApi).pipe(Layer.provide([ProbesLive, StatusLive]))

/** Serves the API on whatever `HttpServer` is provided; probes carry no tracer span and no request log. */
export const HttpLive = HttpApiBuilder.serve().pipe(
  Layer.provide([HttpApiBuilder.middlewareOpenApi({ path: openApiPath }), MethodNotAllowedLive]),
  Layer.provide(ApiLive),
  HttpMiddleware.withTracerDisabledWhen(isProbe)
)
