// The Node HTTP server behind the Effect app. It knows nothing of readiness, only whether the service is shutting down: it is given fast routes (a path and a
// synchronous or promised answer) and serves them straight from the Node request listener, because the Effect
// request pipeline (fiber, request wrapper, router) costs several times what a probe's answer does. Every other
// request goes to the Effect app through @effect/platform-node's own handler.
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpServer from "@effect/platform/HttpServer"
import { ServeError } from "@effect/platform/HttpServerError"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import { readFileSync } from "node:fs"
import * as Http from "node:http"
import * as AppConfig from "../AppConfig.js"
import { closeAllConnectionsAfter, Shutdown, ShutdownSettings } from "../Shutdown.js"

/** What a fast route sees of a request. */
export interface FastRequest {
  readonly method: "GET" | "HEAD"
  readonly path: string
  /** The query string without its `?`, or "". */
  readonly query: string
  readonly headers: Http.IncomingHttpHeaders
}

export interface FastAnswer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

/** Answers a GET (and so a HEAD) on one path without entering the Effect runtime. It must not throw. */
export type FastRoute = (request: FastRequest) => FastAnswer | PromiseLike<FastAnswer>

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

/**
 * The request target as a path and a query, whatever its form: origin-form (`/readyz?x`) or absolute-form
 * (`http://host/readyz`, which HTTP/1.1 servers must accept). `*` and anything else yield the target unchanged.
 */
export const targetOf = (url: string | undefined): { readonly path: string; readonly query: string } => {
  let target = url ?? ""
  if (target.charCodeAt(0) !== 47 /* / */) {
    const absolute = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(target)
    if (absolute !== null) {
      target = target.slice(absolute[0].length)
      if (target === "" || target.charCodeAt(0) === 63 /* ? */) target = `/${target}`
    }
  }
  const query = target.indexOf("?")
  return query === -1 ? { path: target, query: "" } : { path: target.slice(0, query), query: target.slice(query + 1) }
}

// RFC 3986's authority without userinfo: a registered name or an IP literal, and an optional port.
const validHost = /^(?:\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(?::(\d{0,5}))?$/

/**
 * RFC 9112 §3.2: a request with more than one Host, or a Host that is not a valid authority, is answered 400.
 * (Node itself answers 400 to an HTTP/1.1 request without one.)
 */
export const hasBadHost = (request: Pick<Http.IncomingMessage, "headers" | "rawHeaders">): boolean => {
  const host = request.headers.host
  if (host === undefined) return false
  const match = validHost.exec(host)
  if (match === null || (match[1] !== undefined && Number(match[1]) > 65535)) return true
  let count = 0
  for (let i = 0; i < request.rawHeaders.length; i += 2) {
    const name = request.rawHeaders[i]!
    if (name.length === 4 && name.toLowerCase() === "host" && ++count > 1) return true
  }
  return false
}

/**
 * The server's limits, each set on purpose (Node's defaults leave a socket that never sends a byte open forever
 * and accept connections until file descriptors run out).
 */
export interface Limits {
  /** Connections beyond this are refused; leaves descriptors for the pool, Redis and the process itself. */
  readonly maxConnections: number
  /** A socket with no traffic for this long (one that connected and never sent a byte) is closed. */
  readonly idleTimeoutMillis: number
  /** The whole header block must arrive within this (slowloris). */
  readonly headersTimeoutMillis: number
  /** The whole request, body included, must arrive within this. */
  readonly requestTimeoutMillis: number
  /** How long a keep-alive connection waits for its next request. */
  readonly keepAliveTimeoutMillis: number
  /** The largest header block accepted, in bytes; a larger one is answered 431. */
  readonly maxHeaderSize: number
}

/** Descriptors kept back from the connection cap for the pool, Redis, logs and Node itself. */
const reservedDescriptors = 256

/** The soft limit on open files, read from /proc on Linux; undefined where it cannot be read. */
const openFilesLimit = (): number | undefined => {
  try {
    const line = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"))
    return line === null ? undefined : Number(line[1])
  } catch {
    return undefined
  }
}

export const defaultMaxConnections = (limit = openFilesLimit()): number =>
  limit === undefined ? 1_000 : Math.max(64, Math.min(10_000, limit - reservedDescriptors))

export const defaultLimits: Limits = {
  maxConnections: defaultMaxConnections(),
  idleTimeoutMillis: 10_000,
  headersTimeoutMillis: 10_000,
  requestTimeoutMillis: 30_000,
  keepAliveTimeoutMillis: 5_000,
  maxHeaderSize: 16_384
}

export interface ListenOptions {
  readonly port: number
  readonly host: string
  readonly limits?: Partial<Limits>
}

const make = (options: ListenOptions) =>
  Effect.gen(function*() {
    const counter = Option.getOrUndefined(yield* Effect.serviceOption(RequestCounter))
    const routes: ReadonlyMap<string, FastRoute> = counter === undefined
      ? yield* FastRoutes
      : new Map([...yield* FastRoutes].map(([path, route]) => [path, countedRoute(route, counter.fastRoute(path))]))
    const shutdown = yield* Shutdown
    const shutdownSettings = yield* ShutdownSettings
    const limits: Limits = { ...defaultLimits, ...options.limits }
    const runtime = yield* Effect.runtime<never>()
    const logError = (message: string, error: unknown) =>
      Runtime.runFork(runtime)(
        Effect.logError(message).pipe(
          Effect.annotateLogs("error", error instanceof Error ? error.name : typeof error)
        )
      )
    let effectHandler: ((request: Http.IncomingMessage, response: Http.ServerResponse) => void) | undefined
    // While shutting down (the drain included), every answer closes its connection, so keep-alive clients and load
    // balancers reconnect elsewhere instead of sending their next request to a process that is going away, and no
    // idle keep-alive connection is left for the close to cut under a request that is just being sent.
    const draining = shutdown.isShuttingDown

    const write = (response: Http.ServerResponse, method: string, answer: FastAnswer) => {
      if (response.headersSent || response.destroyed) return
      if (draining()) response.setHeader("connection", "close")
      response.writeHead(answer.status, {
        ...answer.headers,
        "content-length": Buffer.byteLength(answer.body)
      })
      response.end(method === "HEAD" ? undefined : answer.body)
    }

    const fail = (response: Http.ServerResponse, status: number) => {
      if (response.headersSent || response.destroyed) return
      response.writeHead(status, { connection: "close", "content-length": 0 }).end()
    }

    const listener = (request: Http.IncomingMessage, response: Http.ServerResponse) => {
      if (hasBadHost(request)) return fail(response, 400)
      const method = request.method
      const target = targetOf(request.url)
      const route = method === "GET" || method === "HEAD" ? routes.get(target.path) : undefined
      if (route !== undefined && (method === "GET" || method === "HEAD")) {
        const answer = route({ method, path: target.path, query: target.query, headers: request.headers })
        if ("then" in answer) {
          // Only an interrupted round rejects, which happens when the service is stopping.
          return void answer.then((ready) => write(response, method, ready), () => fail(response, 503))
        }
        return write(response, method, answer)
      }
      if (effectHandler === undefined) return fail(response, 503)
      if (draining()) response.setHeader("connection", "close")
      // The app routes on the path: an absolute-form target is handed over in origin-form.
      if (target.path.charCodeAt(0) === 47) {
        request.url = target.query === "" ? target.path : `${target.path}?${target.query}`
      }
      if (counter !== undefined) {
        const path = target.path
        response.once("finish", () => counter.effectApp(path, response.statusCode))
      }
      effectHandler(request, response)
    }

    const server = Http.createServer({
      maxHeaderSize: limits.maxHeaderSize,
      headersTimeout: limits.headersTimeoutMillis,
      requestTimeout: limits.requestTimeoutMillis,
      keepAliveTimeout: limits.keepAliveTimeoutMillis,
      // Node checks the headers and request timeouts on this period (30 s by default), which would let a slowloris
      // socket outlive its timeout by that much.
      connectionsCheckingInterval: 1_000
    }, (request, response) => {
      // Nothing a client sends may end the process: a throw here would be an uncaught exception.
      try {
        listener(request, response)
      } catch (error) {
        logError("request handler threw; answered 500", error)
        fail(response, 500)
      }
    })
    server.maxConnections = limits.maxConnections
    server.timeout = limits.idleTimeoutMillis

    yield* Effect.acquireRelease(
      Effect.async<void, ServeError>((resume) => {
        const onError = (cause: Error) => resume(Effect.fail(new ServeError({ cause })))
        server.once("error", onError)
        server.listen(options.port, options.host, () => {
          server.off("error", onError)
          // Once listening, an error (EMFILE on accept) is logged: the server keeps accepting when it can.
          server.on("error", (error) => logError("HTTP server error", error))
          resume(Effect.void)
        })
      }),
      () =>
        Effect.zipRight(
          shutdown.begin,
          Effect.async<void>((resume) => {
            // close() stops accepting, lets in-flight requests finish and drops idle keep-alive connections; what is
            // still open when the shutdown timeout nears is cut, leaving the rest of it to the pool and the client.
            const forceClose = setTimeout(
              () => server.closeAllConnections(),
              closeAllConnectionsAfter(shutdownSettings.timeout)
            )
            server.close(() => {
              clearTimeout(forceClose)
              effectHandler = undefined
              resume(Effect.void)
            })
          })
        )
    )

    const address = server.address()
    return HttpServer.make({
      address: typeof address === "object" && address !== null
        ? { _tag: "TcpAddress", hostname: address.address, port: address.port }
        : { _tag: "UnixAddress", path: String(address) },
      serve: (app, middleware) =>
        Effect.gen(function*() {
          // Kept until the server has closed, not dropped with the app's scope (which closes first): a request whose
          // headers were still arriving when the drain ended is in flight too, and must be answered by the app, not
          // with a 503. Its fibers are not tied to that scope, and what it reads (readiness) outlives the server.
          effectHandler = yield* (middleware === undefined
            ? NodeHttpServer.makeHandler(app)
            : NodeHttpServer.makeHandler(app, middleware))
        })
    })
  })

/** The HTTP server on `options`, serving the given fast routes, with what an Effect HTTP app expects of a platform. */
export const layer = (options: ListenOptions): Layer.Layer<
  HttpServer.HttpServer | Layer.Layer.Success<typeof HttpServer.layerContext>,
  ServeError,
  FastRoutes | Shutdown | ShutdownSettings
> => Layer.merge(Layer.scoped(HttpServer.HttpServer, make(options)), HttpServer.layerContext)

export const Live: Layer.Layer<
  HttpServer.HttpServer | Layer.Layer.Success<typeof HttpServer.layerContext>,
  ServeError | ConfigError.ConfigError,
  FastRoutes | Shutdown | ShutdownSettings
> = Layer.unwrapEffect(
  Effect.map(
    Config.all({ port: AppConfig.port, host: AppConfig.host, maxConnections: AppConfig.maxConnections }),
    ({ host, maxConnections, port }) =>
      layer({
        port,
        host,
        limits: Option.match(maxConnections, { onNone: () => ({}), onSome: (n) => ({ maxConnections: n }) })
      })
  )
)
