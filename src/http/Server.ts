// The Node HTTP server behind the Effect app. Probes are answered straight from the Node request listener
// when the readiness snapshot is fresh: they are the hottest and simplest requests, and the Effect request
// pipeline (fiber, request wrapper, router) costs several times what the answer itself does. Everything
// else, and a probe whose snapshot is stale, goes through the Effect app.
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpServer from "@effect/platform/HttpServer"
import { ServeError } from "@effect/platform/HttpServerError"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Http from "node:http"
import * as AppConfig from "../AppConfig.js"
import { Readiness } from "../Readiness.js"
import { healthBody, readinessBody } from "./Probes.js"

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

const pathOf = (url: string | undefined) => {
  if (url === undefined) return ""
  const query = url.indexOf("?")
  return query === -1 ? url : url.slice(0, query)
}

const make = (options: ListenOptions) =>
  Effect.gen(function*() {
    const readiness = yield* Readiness
    const clock = yield* Effect.clock
    let effectHandler: ((request: Http.IncomingMessage, response: Http.ServerResponse) => void) | undefined

    const answer = (response: Http.ServerResponse, body: string) => {
      response.writeHead(200, jsonHeaders(body))
      response.end(body)
    }

    const server = Http.createServer((request, response) => {
      if (request.method === "GET") {
        const path = pathOf(request.url)
        if (path === "/healthz") return answer(response, healthBody)
        if (path === "/readyz") {
          const now = clock.unsafeCurrentTimeMillis()
          const snapshot = readiness.unsafeFresh(now)
          if (snapshot !== undefined) return answer(response, readinessBody(snapshot, now))
        }
      }
      if (effectHandler !== undefined) return effectHandler(request, response)
      response.writeHead(503).end()
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
          const handler = yield* NodeHttpServer.makeHandler(app, middleware!)
          effectHandler = handler
          yield* Effect.addFinalizer(() => Effect.sync(() => (effectHandler = undefined)))
        })
    })
  })

/** The HTTP server on `options`, with the services an Effect HTTP app expects from its platform. */
export const layer = (options: ListenOptions): Layer.Layer<
  HttpServer.HttpServer | Layer.Layer.Success<typeof NodeHttpServer.layerContext>,
  ServeError,
  Readiness
> => Layer.merge(Layer.scoped(HttpServer.HttpServer, make(options)), NodeHttpServer.layerContext)

export const Live: Layer.Layer<
  HttpServer.HttpServer | Layer.Layer.Success<typeof NodeHttpServer.layerContext>,
  ServeError | ConfigError.ConfigError,
  Readiness
> = Layer.unwrapEffect(Effect.map(Config.all({ port: AppConfig.port, host: AppConfig.host }), layer))
