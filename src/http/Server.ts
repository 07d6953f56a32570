// The Node HTTP server behind the Effect app. Probes are answered straight from the Node request listener,
// reading the readiness snapshot: they are the hottest and simplest requests, and the Effect request pipeline
// (fiber, request wrapper, router) costs several times what the answer itself does. Everything else goes
// through the Effect app as a web `Request`.
//
// @effect/platform-node's server is not used: it loads a WebSocket server, an HTTP client and multipart
// parsing this service never needs, about 20 MB of resident memory at idle.
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServer from "@effect/platform/HttpServer"
import { ServeError } from "@effect/platform/HttpServerError"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Http from "node:http"
import { Readable } from "node:stream"
import * as AppConfig from "../AppConfig.js"
import { Readiness } from "../Readiness.js"
import { healthBody, healthzPath, pathOf, readinessBody, readyzPath } from "./Probes.js"

export interface ListenOptions {
  readonly port: number
  readonly host: string
}

/** How long shutdown waits for in-flight requests before it closes their connections. */
const drainTimeoutMillis = 4_000

const jsonHeaders = (body: string) => ({
  "content-type": "application/json",
  "content-length": Buffer.byteLength(body),
  "cache-control": "no-store"
})

const make = (options: ListenOptions) =>
  Effect.gen(function*() {
    const readiness = yield* Readiness
    const clock = yield* Effect.clock
    let effectHandler: ((request: Http.IncomingMessage, response: Http.ServerResponse) => void) | undefined
    // While shutting down, every answer closes its connection, so keep-alive clients reconnect elsewhere instead of
    // sending their next request to a process that is going away.
    let draining = false

    const answer = (response: Http.ServerResponse, body: string) => {
      if (draining) response.setHeader("connection", "close")
      response.writeHead(200, jsonHeaders(body))
      response.end(body)
    }

    const server = Http.createServer((request, response) => {
      if (request.method === "GET") {
        const path = pathOf(request.url)
        if (path === healthzPath) return answer(response, healthBody)
        if (path === readyzPath) {
          const now = clock.unsafeCurrentTimeMillis()
          const snapshot = readiness.unsafeFresh(now)
          if (snapshot !== undefined) return answer(response, readinessBody(snapshot, now))
          // Overdue: every probe waits on the same round, bounded by the check budget.
          return void readiness.unsafeRefresh().then(
            (refreshed) => answer(response, readinessBody(refreshed, clock.unsafeCurrentTimeMillis())),
            // Only an interrupted round rejects, which happens when the service is stopping.
            () => response.writeHead(503, { connection: "close" }).end()
          )
        }
      }
      if (effectHandler !== undefined) {
        if (draining) response.setHeader("connection", "close")
        return effectHandler(request, response)
      }
      response.writeHead(503, { connection: "close" }).end()
    })

    yield* Effect.acquireRelease(
      Effect.async<void, ServeError>((resume) => {
        const onError = (cause: Error) => resume(Effect.fail(new ServeError({ cause })))
        server.once("error", onError)
        server.listen(options.port, options.host, () => {
          server.off("error", onError)
          resume(Effect.void)
        })
      }),
      () =>
        Effect.async<void>((resume) => {
          // close() stops accepting, lets in-flight requests finish and drops idle keep-alive connections.
          draining = true
          const forceClose = setTimeout(() => server.closeAllConnections(), drainTimeoutMillis)
          server.close(() => {
            clearTimeout(forceClose)
            resume(Effect.void)
          })
        })
    )

    const address = server.address()
    return HttpServer.make({
      address: typeof address === "object" && address !== null
        ? { _tag: "TcpAddress", hostname: address.address, port: address.port }
        : { _tag: "UnixAddress", path: String(address) },
      serve: (app, middleware) =>
        Effect.gen(function*() {
          const handle = HttpApp.toWebHandlerRuntime(yield* Effect.runtime<never>())(app, middleware)
          effectHandler = (request, response) => {
            handle(toWebRequest(request)).then(
              (answer) => writeWebResponse(answer, response),
              () => response.writeHead(500).end()
            )
          }
          yield* Effect.addFinalizer(() => Effect.sync(() => (effectHandler = undefined)))
        })
    })
  })

const toWebRequest = (request: Http.IncomingMessage): Request => {
  const headers = new Headers()
  for (let i = 0; i < request.rawHeaders.length; i += 2) {
    headers.append(request.rawHeaders[i]!, request.rawHeaders[i + 1]!)
  }
  const hasBody = request.method !== "GET" && request.method !== "HEAD"
  return new Request(`http://${request.headers.host ?? "localhost"}${request.url ?? "/"}`, {
    method: request.method ?? "GET",
    headers,
    ...(hasBody ? { body: Readable.toWeb(request) as ReadableStream, duplex: "half" } : {})
  } as RequestInit)
}

const writeWebResponse = async (answer: Response, response: Http.ServerResponse) => {
  const headers: Record<string, string | Array<string>> = {}
  answer.headers.forEach((value, name) => {
    if (name !== "set-cookie") headers[name] = value
  })
  const cookies = answer.headers.getSetCookie()
  if (cookies.length > 0) headers["set-cookie"] = cookies
  response.writeHead(answer.status, headers)
  if (answer.body === null) return response.end()
  try {
    for await (const chunk of answer.body) response.write(chunk)
  } finally {
    response.end()
  }
}

/** The HTTP server on `options`, with the services an Effect HTTP app expects from its platform. */
export const layer = (options: ListenOptions): Layer.Layer<
  HttpServer.HttpServer | Layer.Layer.Success<typeof HttpServer.layerContext>,
  ServeError,
  Readiness
> => Layer.merge(Layer.scoped(HttpServer.HttpServer, make(options)), HttpServer.layerContext)

export const Live: Layer.Layer<
  HttpServer.HttpServer | Layer.Layer.Success<typeof HttpServer.layerContext>,
  ServeError | ConfigError.ConfigError,
  Readiness
> = Layer.unwrapEffect(Effect.map(Config.all({ port: AppConfig.port, host: AppConfig.host }), layer))
