// The lb harness: real `node dist/main.js` instances, each reaching PostgreSQL and Redis through its own FaultProxy
// pair, and a load generator of keep-alive clients that counts every request and every way one can fail.
import { Effect, Fiber, type Scope } from "effect"
import * as Http from "node:http"
import * as Net from "node:net"
import { performance } from "node:perf_hooks"
import * as FaultProxy from "../support/FaultProxy.js"
import * as Service from "../support/Service.js"

/** READINESS_TIMEOUT_MS and READINESS_INTERVAL_MS: main.ts's defaults, spelled out because the bounds use them. */
export const budgetMillis = 500
export const intervalMillis = 1_000

export const now = () => performance.now()

export interface Proxies {
  readonly database: FaultProxy.FaultProxy
  readonly redis: FaultProxy.FaultProxy
}

/** A FaultProxy in front of the shared PostgreSQL and one in front of the shared Redis, for one instance. */
export const proxies: Effect.Effect<Proxies, FaultProxy.FaultProxyError, Scope.Scope> = Effect.all({
  database: FaultProxy.make({ target: { host: "127.0.0.1", port: 5432 } }),
  redis: FaultProxy.make({ target: { host: "127.0.0.1", port: 6379 } })
})

/**
 * `node dist/main.js` against its proxies, in the 503 mode (HAProxy reads the status code), with the drain and the
 * shutdown timeout given. `port` restarts an instance where it was.
 */
export const instance = (
  through: Proxies,
  options: {
    readonly drainMillis: number
    readonly timeoutMillis?: number
    readonly port?: number
    readonly env?: Readonly<Record<string, string>>
  }
) =>
  Service.spawn({
    ...(options.port === undefined ? {} : { port: options.port }),
    env: {
      DATABASE_URL: `postgres://postgres@127.0.0.1:${through.database.port}/postgres`,
      REDIS_URL: `redis://127.0.0.1:${through.redis.port}`,
      READINESS_TIMEOUT_MS: String(budgetMillis),
      READINESS_INTERVAL_MS: String(intervalMillis),
      READYZ_NOT_READY_STATUS: "503",
      SHUTDOWN_DRAIN_MS: String(options.drainMillis),
      SHUTDOWN_TIMEOUT_MS: String(options.timeoutMillis ?? 10_000),
      LOG_FORMAT: "json",
      ...options.env
    }
  })

// ---------------------------------------------------------------------------------------------------------------
// Load

/** What a request that failed saw: the status, or the error code, and when (ms since the load began). */
export interface Failure {
  readonly path: string
  readonly what: string
  readonly atMs: number
}

export interface LoadResult {
  readonly sent: number
  readonly succeeded: number
  readonly failed: number
  /** The first few failures, for the message. */
  readonly failures: ReadonlyArray<Failure>
  /** Failures counted by what they saw (`status 503`, `ECONNRESET`, ...). */
  readonly failedBy: Readonly<Record<string, number>>
  readonly durationMs: number
}

/** How a body is known to be whole: `/healthz` is exactly its JSON; anything else must parse as JSON. */
const complete = (path: string, body: string) => {
  if (path === "/healthz" || path === "/livez") return body === "{\"status\":\"ok\"}"
  try {
    JSON.parse(body)
    return true
  } catch {
    return false
  }
}

/** One GET on `agent`: undefined when it succeeded, or what went wrong. */
const request = (port: number, path: string, agent: Http.Agent, timeoutMillis: number) =>
  Effect.async<string | undefined>((resume) => {
    const chunks: Array<Buffer> = []
    const request = Http.get({ host: "127.0.0.1", port, path, agent, timeout: timeoutMillis }, (response) => {
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("error", (error: NodeJS.ErrnoException) => resume(Effect.succeed(error.code ?? error.message)))
      response.on("end", () => {
        const status = response.statusCode ?? 0
        if (status < 200 || status > 299) return resume(Effect.succeed(`status ${status}`))
        const body = Buffer.concat(chunks).toString("utf8")
        resume(Effect.succeed(complete(path, body) ? undefined : `incomplete body (${body.length} bytes)`))
      })
    })
    request.on("timeout", () => request.destroy(Object.assign(new Error("timeout"), { code: "timeout" })))
    request.on("error", (error: NodeJS.ErrnoException) => resume(Effect.succeed(error.code ?? error.message)))
    return Effect.sync(() => request.destroy())
  })

export interface LoadOptions {
  readonly port: number
  /** Concurrent clients, each with its own keep-alive connection. */
  readonly clients: number
  /** Each client cycles through these, starting at a different one. */
  readonly paths: ReadonlyArray<string>
  /** A request with no complete answer within this counts as failed (HAProxy's `timeout server` is 10 s). */
  readonly timeoutMillis?: number
  /** Between two requests of one client, so that the load leaves CPU for the health checks on two cores. */
  readonly pauseMillis?: number
}

/**
 * Starts `clients` keep-alive clients sending GETs through `port` back to back; `stop` lets each finish the request
 * it has in flight (never cut: a request the test cut would count as neither sent nor failed) and returns the counts.
 */
export const startLoad = (options: LoadOptions) =>
  Effect.gen(function*() {
    const startedAt = now()
    let stopping = false
    let sent = 0
    let succeeded = 0
    const failures: Array<Failure> = []
    const failedBy: Record<string, number> = {}
    const client = (index: number) =>
      Effect.acquireUseRelease(
        Effect.sync(() => new Http.Agent({ keepAlive: true, maxSockets: 1 })),
        (agent) =>
          Effect.gen(function*() {
            // Bounded: at one request per pause at least, a client stops within a few hundred thousand iterations.
            for (let i = index; !stopping && i < index + 1_000_000; i++) {
              const path = options.paths[i % options.paths.length]!
              sent++
              const failure = yield* request(options.port, path, agent, options.timeoutMillis ?? 10_000)
              if (failure === undefined) succeeded++
              else {
                failures.push({ path, what: failure, atMs: Math.round(now() - startedAt) })
                failedBy[failure] = (failedBy[failure] ?? 0) + 1
              }
              yield* Effect.sleep(options.pauseMillis ?? 5)
            }
          }),
        (agent) => Effect.sync(() => agent.destroy())
      )
    const fiber = yield* Effect.fork(
      Effect.all(Array.from({ length: options.clients }, (_, i) => client(i)), { concurrency: "unbounded" })
    )
    return {
      /** Requests sent so far, for a test that waits until the load is really flowing. */
      sent: () => sent,
      stop: Effect.gen(function*() {
        stopping = true
        yield* Fiber.join(fiber)
        return {
          sent,
          succeeded,
          failed: failures.length,
          failures: failures.slice(0, 20),
          failedBy,
          durationMs: Math.round(now() - startedAt)
        } satisfies LoadResult
      })
    }
  })

// ---------------------------------------------------------------------------------------------------------------
// Single requests

export interface Answer {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  readonly body: string
}

/** One GET on a new connection: the whole answer, or the error code when there was none. */
export const getOnce = (port: number, path: string, timeoutMillis = 5_000) =>
  Effect.async<Answer | string>((resume) => {
    const chunks: Array<Buffer> = []
    const request = Http.get({ host: "127.0.0.1", port, path, agent: false, timeout: timeoutMillis }, (response) => {
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("error", (error: NodeJS.ErrnoException) => resume(Effect.succeed(error.code ?? error.message)))
      response.on("end", () =>
        resume(Effect.succeed({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks).toString("utf8")
        })))
    })
    request.on("timeout", () => request.destroy(Object.assign(new Error("timeout"), { code: "timeout" })))
    request.on("error", (error: NodeJS.ErrnoException) => resume(Effect.succeed(error.code ?? error.message)))
    return Effect.sync(() => request.destroy())
  })

/** Whether a new TCP connection to `port` is accepted, or the error code. */
export const connect = (port: number) =>
  Effect.async<string>((resume) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed("connected"))
    })
    socket.once("error", (error: NodeJS.ErrnoException) => resume(Effect.succeed(error.code ?? error.message)))
    return Effect.sync(() => socket.destroy())
  })

export interface Held {
  /** Sends the blank line that ends the request's headers. */
  readonly finish: Effect.Effect<void>
  /** Everything received until the server closed the connection (the request asks it to), and how it ended. */
  readonly received: Effect.Effect<{ readonly text: string; readonly error?: string }>
}

/**
 * A GET held in flight: the request line and headers go out now, the blank line that ends them when `finish` runs.
 * The server has begun reading it, so it is a request in progress, not an idle connection, for as long as it is held.
 */
export const hold = (port: number, path: string) =>
  Effect.async<Held, string>((resume) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    const chunks: Array<Buffer> = []
    let error: string | undefined
    const closed = new Promise<{ readonly text: string; readonly error?: string }>((resolve) => {
      socket.on("data", (chunk: Buffer) => chunks.push(chunk))
      socket.on("error", (cause: NodeJS.ErrnoException) => (error = cause.code ?? cause.message))
      socket.on("close", () => {
        const text = Buffer.concat(chunks).toString("latin1")
        resolve(error === undefined ? { text } : { text, error })
      })
    })
    socket.once("error", (cause: NodeJS.ErrnoException) => resume(Effect.fail(cause.code ?? cause.message)))
    socket.once("connect", () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n`)
      resume(Effect.succeed({
        finish: Effect.sync(() => void socket.write("\r\n")),
        received: Effect.promise(() => closed).pipe(
          Effect.timeoutTo({
            duration: "15 seconds",
            onSuccess: (result) => result,
            onTimeout: () => ({ text: Buffer.concat(chunks).toString("latin1"), error: "no close within 15 s" })
          })
        )
      }))
    })
    return Effect.sync(() => void socket.destroy())
  })
