// The Effect app's HTTP server over the listener: it gives the listener the app's fast routes (counted, when a
// RequestCounter is provided) and its request handler, @effect/platform-node's own. Probes are fast routes because
// the Effect request pipeline (fiber, request wrapper, router) costs several times what a probe's answer does.
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpServer from "@effect/platform/HttpServer"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { type FastRoute, Listener } from "./Listener.js"

export {
  defaultLimits,
  defaultMaxConnections,
  type FastAnswer,
  type FastRequest,
  type FastRoute,
  hasBadHost,
  type Limits,
  type ListenOptions,
  prefixRoutesOf,
  targetOf
} from "./Listener.js"

export class FastRoutes extends Context.Tag("dashboard/FastRoutes")<FastRoutes, ReadonlyMap<string, FastRoute>>() {
  static readonly None = Layer.succeed(FastRoutes, new Map())
}

/**
 * Counts answered requests, when provided (the server looks for it but does not require it). A fast route's
 * counter is resolved once when the server starts, so a fast answer costs one call; a request the Effect app
 * serves is counted by its path when its response has finished.
 */
export class RequestCounter extends Context.Tag("dashboard/RequestCounter")<RequestCounter, {
  /** The counter of one fast route, called with the status of each of its answers. */
  readonly fastRoute: (path: string) => (status: number) => void
  /** Called once for each request the Effect app answered. */
  readonly effectApp: (path: string, status: number) => void
}>() {}

const countedRoute = (route: FastRoute, count: (status: number) => void): FastRoute => (request) => {
  const answer = route(request)
  if (!("then" in answer)) {
    count(answer.status)
    return answer
  }
  return answer.then((ready) => {
    count(ready.status)
    return ready
  })
}

const make = Effect.gen(function*() {
  const listener = yield* Listener
  const counter = Option.getOrUndefined(yield* Effect.serviceOption(RequestCounter))
  const routes = yield* FastRoutes
  listener.serveRoutes(
    counter === undefined
      ? routes
      : new Map([...routes].map(([path, route]) => [path, countedRoute(route, counter.fastRoute(path))]))
  )
  // The listener closes before what the app reads (readiness, the pool, the client) is released.
  yield* Effect.addFinalizer(() => listener.close)
  return HttpServer.make({
    address: { _tag: "TcpAddress", hostname: listener.address.hostname, port: listener.address.port },
    serve: (app, middleware) =>
      Effect.gen(function*() {
        // Its fibers are not tied to the app's scope, and the listener keeps it until it has closed.
        const handler = yield* (middleware === undefined
          ? NodeHttpServer.makeHandler(app)
          : NodeHttpServer.makeHandler(app, middleware))
        listener.serveApp(
          handler,
          counter === undefined ? undefined : (path) => (status) => counter.effectApp(path, status)
        )
      })
  })
})

/** The app's server on the listener, serving the given fast routes, with what an Effect HTTP app expects. */
export const layer: Layer.Layer<
  HttpServer.HttpServer | Layer.Layer.Success<typeof HttpServer.layerContext>,
  never,
  FastRoutes | Listener
> = Layer.merge(Layer.scoped(HttpServer.HttpServer, make), HttpServer.layerContext)
