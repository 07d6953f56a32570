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
import { Readiness, ReadinessSettings } from "../Readiness.js"
import { DashboardApi, healthzPath, livezPath, openApiPath, readyzPath } from "./Api.js"
import { healthBody, jsonHeaders, readinessAnswer, readinessQuery } from "./Probes.js"
import { type FastAnswer, FastRoutes, prefixRoutesOf, targetOf } from "./Server.js"
import { StatusLive } from "./StatusHttp.js"

const toResponse = (answer: FastAnswer) =>
  HttpServerResponse.text(answer.body, {
    status: answer.status,
    contentType: answer.headers["content-type"]!,
    headers: { "cache-control": "no-store" }
  })

const health = toResponse({ status: 200, headers: jsonHeaders, body: healthBody })

// The server answers GET and HEAD on the probes from its fast routes; these handlers give the same answers to
// whatever reaches the Effect app directly (a web handler, a test), and are what the OpenAPI document describes.
export const ProbesLive = HttpApiBuilder.group(DashboardApi, "probes", (handlers) =>
  Effect.gen(function*() {
    const readiness = yield* Readiness
    const settings = yield* ReadinessSettings
    const answer = (only?: string) =>
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const snapshot = yield* readiness.current
        const query = readinessQuery({ query: targetOf(request.url).query, accept: request.headers.accept }, only)
        return toResponse(readinessAnswer(snapshot, query, yield* Clock.currentTimeMillis, settings.notReadyStatus))
      })
    return handlers
      .handle("healthz", () => Effect.succeed(health))
      .handle("livez", () => Effect.succeed(health))
      .handle("readyz", () => answer())
      .handle("readyzCheck", ({ path }) =>
        readiness.names.includes(path.name) ? answer(path.name) : Effect.fail(undefined))
  }))

const getAndHead = ["GET", "HEAD"]

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
  Effect.gen(function*() {
    // The server's fast routes (the probes, /readyz/<check>, /metrics, the status page's files,
    // /readyz/tenants/<id>) answer GET and HEAD only.
    const fastRoutes = yield* FastRoutes
    const fastPrefixes = prefixRoutesOf(fastRoutes).map(([prefix]) => prefix)
    const isFastRoute = (path: string) =>
      fastRoutes.has(path) || fastPrefixes.some((prefix) => path.length > prefix.length && path.startsWith(prefix))
    return yield* router.all(
      "*",
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const path = targetOf(request.url).path
        const allowed = isFastRoute(path) ? getAndHead : routes.get(path)
        return allowed === undefined
          ? HttpServerResponse.empty({ status: 404 })
          : HttpServerResponse.empty({ status: 405, headers: { allow: allowed.join(", ") } })
      })
    )
  })
)

const isProbe = (request: HttpServerRequest.HttpServerRequest) => {
  const path = targetOf(request.url).path
  return path === healthzPath || path === livezPath || path.startsWith(readyzPath)
}

export const ApiLive = HttpApiBuilder.api(DashboardApi).pipe(Layer.provide([ProbesLive, StatusLive]))

/** Serves the API on whatever `HttpServer` is provided; probes carry no tracer span and no request log. */
export const HttpLive = HttpApiBuilder.serve().pipe(
  Layer.provide([HttpApiBuilder.middlewareOpenApi({ path: openApiPath }), MethodNotAllowedLive]),
  Layer.provide(ApiLive),
  HttpMiddleware.withTracerDisabledWhen(isProbe)
)
