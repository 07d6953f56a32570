// The listening socket, opened before anything else of the service is loaded, so that liveness answers within a few
// milliseconds of the process starting: an orchestrator scaling out waits on that. Until the app attaches its fast
// routes and its handler, it serves the boot routes (liveness, and readiness failing closed) and answers 503 to
// everything else. It knows nothing of readiness, only whether the service is shutting down; and it is total:
// nothing a client sends can throw out of its request listener.
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import { readFileSync } from "node:fs"
import * as Http from "node:http"
import * as AppConfig from "../AppConfig.js"
import { closeAllConnectionsAfter, Shutdown, ShutdownSettings } from "../Shutdown.js"

export class ListenError extends Data.TaggedError("ListenError")<{ readonly cause: Error }> {}

/** What a fast route sees of a request. */
export interface FastRequest {
  readonly method: "GET" | "HEAD"
  readonly path: string
  /** The query string without its `?`, or "". */
  readonly query: string
  readonly headers: Http.IncomingHttpHeaders
  /** One header's first value, read without building `headers`; `name` in lower case. */
  readonly header: (name: string) => string | undefined
}

export interface FastAnswer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

/**
 * Answers a GET (and so a HEAD) on one path without entering the Effect runtime. It must not throw. A route whose
 * path ends in `/*` answers every longer path under that prefix (`/readyz/tenants/*`); it is looked for only when
 * no exact path matched.
 */
export type FastRoute = (request: FastRequest) => FastAnswer | PromiseLike<FastAnswer>

/** The prefix routes of a set of fast routes: their paths without the `*`, longest first. */
export const prefixRoutesOf = (
  routes: ReadonlyMap<string, FastRoute>
): ReadonlyArray<readonly [string, FastRoute]> =>
  [...routes].flatMap(([path, route]) => path.endsWith("/*") ? [[path.slice(0, -1), route] as const] : [])
    .sort(([a], [b]) => b.length - a.length)

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
export const hasBadHost = (request: Pick<Http.IncomingMessage, "rawHeaders">): boolean => {
  // rawHeaders, not headers: Node builds the headers object lazily, and the fast path never needs it otherwise.
  let host: string | undefined
  for (let i = 0; i < request.rawHeaders.length; i += 2) {
    const name = request.rawHeaders[i]!
    if (name.length === 4 && name.toLowerCase() === "host") {
      if (host !== undefined) return true
      host = request.rawHeaders[i + 1]!
    }
  }
  if (host === undefined) return false
  const match = validHost.exec(host)
  return match === null || (match[1] !== undefined && Number(match[1]) > 65535)
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
  /** What is served before the app is attached: liveness, and readiness failing closed. */
  readonly bootRoutes?: ReadonlyMap<string, FastRoute>
}

/**
 * A fast route's view of a Node request. One object per request, its methods on the prototype: this is the probe
 * path. Node builds `headers` lazily, so it is only read when a route asks for it.
 */
class NodeFastRequest implements FastRequest {
  constructor(
    readonly method: "GET" | "HEAD",
    readonly path: string,
    readonly query: string,
    private readonly request: Http.IncomingMessage
  ) {}

  get headers(): Http.IncomingHttpHeaders {
    return this.request.headers
  }

  header(name: string): string | undefined {
    const raw = this.request.rawHeaders
    for (let i = 0; i < raw.length; i += 2) {
      if (raw[i]!.length === name.length && raw[i]!.toLowerCase() === name) return raw[i + 1]
    }
    return undefined
  }
}

/** Called with the status of each answer of one fast route, or of each request the app answered. */
export type Count = (status: number) => void

export interface ListenerService {
  readonly address: { readonly hostname: string; readonly port: number }
  /** Replaces the fast routes (the app's, once it is built). */
  readonly serveRoutes: (routes: ReadonlyMap<string, FastRoute>) => void
  /** Hands every other request to `handler`, counting each answer with `count` when given. */
  readonly serveApp: (
    handler: ((request: Http.IncomingMessage, response: Http.ServerResponse) => void) | undefined,
    count?: (path: string) => Count
  ) => void
  /**
   * Stops accepting, lets in-flight requests finish and drops idle keep-alive connections; what is still open when the
   * shutdown timeout nears is cut. Runs once, whoever asks first (the app, so that it closes before what it reads).
   */
  readonly close: Effect.Effect<void>
}

export class Listener extends Context.Tag("dashboard/Listener")<Listener, ListenerService>() {
  static readonly layer = (options: ListenOptions): Layer.Layer<Listener, ListenError, Shutdown | ShutdownSettings> =>
    Layer.scoped(Listener, make(options))

  /** PORT, HOST and MAX_CONNECTIONS, with the given boot routes. */
  static readonly Live = (
    bootRoutes: ReadonlyMap<string, FastRoute>
  ): Layer.Layer<Listener, ListenError | ConfigError.ConfigError, Shutdown | ShutdownSettings> =>
    Layer.unwrapEffect(
      Effect.map(
        Config.all({ port: AppConfig.port, host: AppConfig.host, maxConnections: AppConfig.maxConnections }),
        ({ host, maxConnections, port }) =>
          Listener.layer({
            port,
            host,
            bootRoutes,
            limits: Option.match(maxConnections, { onNone: () => ({}), onSome: (n) => ({ maxConnections: n }) })
          })
      )
    )
}

const make = (options: ListenOptions) =>
  Effect.gen(function*() {
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
    let routes: ReadonlyMap<string, FastRoute> = options.bootRoutes ?? new Map()
    let prefixRoutes = prefixRoutesOf(routes)
    // Only on a miss of the exact paths, so /healthz costs one Map lookup as before.
    const prefixRoute = (path: string): FastRoute | undefined => {
      for (const [prefix, route] of prefixRoutes) {
        if (path.length > prefix.length && path.startsWith(prefix)) return route
      }
      return undefined
    }
    let appHandler: ((request: Http.IncomingMessage, response: Http.ServerResponse) => void) | undefined
    let countApp: ((path: string) => Count) | undefined
    // While shutting down (the drain included), every answer closes its connection, so keep-alive clients and load
    // balancers reconnect elsewhere instead of sending their next request to a process that is going away, and no
    // idle keep-alive connection is left for the close to cut under a request that is just being sent.
    const draining = shutdown.isShuttingDown

    const write = (response: Http.ServerResponse, method: string, answer: FastAnswer) => {
      if (response.headersSent || response.destroyed) return
      if (draining()) response.setHeader("connection", "close")
      // Copied name by name, not spread: with a spread, every answer's header object got a hidden class of its own,
      // which promoted ~100 bytes a request into the old generation (22 MB against 3 MB in 5 s of /healthz load).
      const headers: Record<string, string | number> = {}
      for (const name in answer.headers) headers[name] = answer.headers[name]!
      headers["content-length"] = Buffer.byteLength(answer.body)
      response.writeHead(answer.status, headers)
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
      const route = method === "GET" || method === "HEAD"
        ? routes.get(target.path) ?? (prefixRoutes.length === 0 ? undefined : prefixRoute(target.path))
        : undefined
      if (route !== undefined && (method === "GET" || method === "HEAD")) {
        const answer = route(new NodeFastRequest(method, target.path, target.query, request))
        if ("then" in answer) {
          // Only an interrupted round rejects, which happens when the service is stopping.
          return void answer.then((ready) => write(response, method, ready), () => fail(response, 503))
        }
        return write(response, method, answer)
      }
      if (appHandler === undefined) return fail(response, 503)
      if (draining()) response.setHeader("connection", "close")
      // The app routes on the path: an absolute-form target is handed over in origin-form.
      if (target.path.charCodeAt(0) === 47) {
        request.url = target.query === "" ? target.path : `${target.path}?${target.query}`
      }
      if (countApp !== undefined) {
        const count = countApp(target.path)
        response.once("finish", () => count(response.statusCode))
      }
      appHandler(request, response)
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

    let closed: Promise<void> | undefined
    const close = Effect.zipRight(
      shutdown.begin,
      Effect.promise(() =>
        closed ??= new Promise<void>((resolve) => {
          const forceClose = setTimeout(
            () => server.closeAllConnections(),
            closeAllConnectionsAfter(shutdownSettings.timeout)
          )
          server.close(() => {
            clearTimeout(forceClose)
            // The handler is kept until now, not dropped with the app's scope: a request whose headers were still
            // arriving when the drain ended is in flight too, and must be answered by the app, not with a 503.
            appHandler = undefined
            resolve()
          })
        })
      )
    )

    yield* Effect.acquireRelease(
      Effect.async<void, ListenError>((resume) => {
        const onError = (cause: Error) => resume(Effect.fail(new ListenError({ cause })))
        server.once("error", onError)
        server.listen(options.port, options.host, () => {
          server.off("error", onError)
          // Once listening, an error (EMFILE on accept) is logged: the server keeps accepting when it can.
          server.on("error", (error) => logError("HTTP server error", error))
          resume(Effect.void)
        })
      }),
      () => close
    )

    const address = server.address()
    return Listener.of({
      address: typeof address === "object" && address !== null
        ? { hostname: address.address, port: address.port }
        : { hostname: String(address), port: 0 },
      serveRoutes: (next) => {
        routes = next
        prefixRoutes = prefixRoutesOf(next)
      },
      serveApp: (handler, count) => {
        appHandler = handler
        countApp = count
      },
      close
    })
  })
