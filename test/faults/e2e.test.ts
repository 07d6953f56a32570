// Issue 3, end to end: the built service as `pnpm start` runs it (`node dist/main.js`), on a free port, against
// FaultProxies, walked through the contract table: alive, a dependency down, SIGTERM with a request in flight,
// SIGKILL.
import { describe, expect, it } from "@effect/vitest"
import { Data, Effect, Schema } from "effect"
import * as net from "node:net"
import { ReadinessReport } from "../../src/http/Api.js"
import * as FaultProxy from "../support/FaultProxy.js"
import { Fault } from "../support/FaultProxy.js"
import * as Service from "../support/Service.js"
import {
  awaitReport,
  dependency,
  healthzAt,
  isDown,
  isOnlyDown,
  isReady,
  now,
  readyzAt,
  record,
  recover,
  summary,
  useGuard,
  useMeasurements
} from "./harness.js"

useGuard()
useMeasurements()

// The defaults of main.ts, spelled out: the bounds below are derived from them.
const budgetMillis = 500
const intervalMillis = 1_000
/** A fault is in the snapshot after at most one interval and one round; a lifted one after one more round. */
const reportBoundMillis = intervalMillis + budgetMillis + 500
/** A short drain keeps the test quick; the lb suite covers the drain itself. */
const drainMillis = 1_000
const shutdownBoundMillis = drainMillis + 5_000

class RequestError extends Data.TaggedError("RequestError")<{ readonly message: string }> {}

const connectError = (port: number) =>
  Effect.async<string>((resume) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed("connected"))
    })
    socket.once("error", (error: NodeJS.ErrnoException) => resume(Effect.succeed(error.code ?? error.message)))
  })

/** `node dist/main.js` on a free port against the proxies. */
const spawnService = (
  proxies: { readonly database: FaultProxy.FaultProxy; readonly redis: FaultProxy.FaultProxy }
) =>
  Service.spawn({
    env: {
      DATABASE_URL: dependency("database").url(proxies.database.port),
      REDIS_URL: dependency("redis").url(proxies.redis.port),
      READINESS_TIMEOUT_MS: String(budgetMillis),
      READINESS_INTERVAL_MS: String(intervalMillis),
      SHUTDOWN_DRAIN_MS: String(drainMillis)
    }
  })

interface RawResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  /** The whole response as received, for failure messages. */
  readonly text: string
  /** `now()` when the connection closed. */
  readonly at: number
}

/**
 * A GET sent in two parts: the request line and headers now, the blank line that ends them when `finish` runs.
 * `response` is everything received until the server closed the connection (the request asks it to).
 */
const splitRequest = (port: number, path: string) =>
  Effect.async<
    { readonly finish: Effect.Effect<void>; readonly response: Effect.Effect<RawResponse, RequestError> },
    RequestError
  >(
    (resume) => {
      const socket = net.connect({ host: "127.0.0.1", port })
      const chunks: Array<Buffer> = []
      let connected = false
      const closed = new Promise<RawResponse | string>((resolve) => {
        socket.on("data", (chunk: Buffer) => chunks.push(chunk))
        socket.on("error", (error: NodeJS.ErrnoException) => {
          if (!connected) {
            resume(Effect.fail(new RequestError({ message: `cannot connect: ${error.code ?? error.message}` })))
          }
          resolve(error.code ?? error.message)
        })
        socket.on("close", () => {
          const text = Buffer.concat(chunks).toString("utf8")
          const [head = "", ...rest] = text.split("\r\n\r\n")
          const [statusLine = "", ...headerLines] = head.split("\r\n")
          const headers = Object.fromEntries(headerLines.map((line) => {
            const colon = line.indexOf(":")
            return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]
          }))
          resolve({ status: Number(statusLine.split(" ")[1]), headers, body: rest.join("\r\n\r\n"), text, at: now() })
        })
      })
      socket.once("connect", () => {
        connected = true
        socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n`)
        resume(Effect.succeed({
          finish: Effect.sync(() => void socket.write("\r\n")),
          response: Effect.promise(() => closed).pipe(
            Effect.timeout("10 seconds"),
            Effect.orDie,
            Effect.flatMap((result) =>
              typeof result === "string"
                ? Effect.fail(new RequestError({ message: `the request in flight was cut off: ${result}` }))
                : Effect.succeed(result)
            )
          )
        }))
      })
      return Effect.sync(() => void socket.destroy())
    }
  )

describe("node dist/main.js behind FaultProxies", () => {
  it.scopedLive("walks the contract table: alive, dependency down, SIGTERM drains, SIGKILL leaves nothing", () =>
    Effect.gen(function*() {
      const proxies = {
        database: yield* FaultProxy.make({ target: dependency("database").target }),
        redis: yield* FaultProxy.make({ target: dependency("redis").target })
      }
      const child = yield* spawnService(proxies)
      const service = {
        readyz: readyzAt(child.port),
        set: (name: "database" | "redis", fault: Fault) => proxies[name].set(fault)
      }

      // Alive → /healthz 200, and ready once both dependencies answer.
      const health = yield* healthzAt(child.port)
      expect(health.value.status).toBe("ok")
      yield* awaitReport(service, "ready at start", isReady, { within: reportBoundMillis })

      // A dependency down → /readyz still 200, not ready, naming it; both down → both named; back → ready.
      yield* proxies.database.set(Fault.down)
      yield* awaitReport(service, "database down", isOnlyDown("database", ["connection refused"]), {
        within: reportBoundMillis
      })
      yield* proxies.redis.set(Fault.down)
      yield* awaitReport(
        service,
        "both down",
        isDown({ database: ["connection refused"], redis: ["connection refused"] }),
        { within: reportBoundMillis }
      )
      expect((yield* healthzAt(child.port)).value.status).toBe("ok")
      yield* recover(service, ["database", "redis"], { what: "ready again", within: reportBoundMillis })
      yield* child.assertAlive

      // SIGTERM with a request in flight. Probes never wait on a dependency (a snapshot is served until it is
      // overdue), so the request in flight is one whose headers are still arriving: the server has begun reading it
      // when the signal comes, and the drain must let it finish and answer it in full.
      yield* proxies.database.set(Fault.blackhole)
      yield* awaitReport(service, "database hung", isOnlyDown("database", ["timeout"]), {
        within: reportBoundMillis
      })
      const request = yield* splitRequest(child.port, "/readyz")
      yield* Effect.sleep(100)
      yield* child.assertAlive
      const sigtermAt = now()
      yield* child.signal("SIGTERM")
      yield* Effect.sleep(300)
      const finishedAt = now()
      yield* request.finish
      const response = yield* request.response
      expect(response.status, response.text).toBe(200)
      expect(Buffer.byteLength(response.body)).toBe(Number(response.headers["content-length"]))
      // Answered while draining: the connection is not kept alive for a next request.
      expect(response.headers["connection"]).toBe("close")
      // From SIGTERM on, readiness reads not ready, every check shutting down, whatever the dependencies do.
      const report = yield* Schema.decodeUnknown(Schema.parseJson(ReadinessReport))(response.body)
      expect(report.status, summary(report)).toBe("not ready")
      expect(Object.values(report.checks).map((check) => check.error)).toEqual(["shutting down", "shutting down"])
      const exit = yield* child.awaitExit(shutdownBoundMillis)
      expect({ code: exit.code, signal: exit.signal }, child.output()).toEqual({ code: 0, signal: null })
      expect(exit.at - sigtermAt).toBeLessThan(shutdownBoundMillis)
      expect(yield* connectError(child.port)).toBe("ECONNREFUSED")
      yield* record("e2e SIGTERM", "in-flight /readyz answered after its end was sent (ms)", response.at - finishedAt)
      yield* record("e2e SIGTERM", "exit 0 after SIGTERM (ms)", exit.at - sigtermAt)

      // SIGKILL → nothing answers on the port any more.
      yield* proxies.database.set(Fault.pass)
      const killed = yield* spawnService(proxies)
      yield* awaitReport({ readyz: readyzAt(killed.port) }, "second process ready", isReady, {
        within: reportBoundMillis
      })
      const sigkillAt = now()
      yield* killed.signal("SIGKILL")
      const killedExit = yield* killed.awaitExit(shutdownBoundMillis)
      expect(killedExit.signal).toBe("SIGKILL")
      expect(yield* connectError(killed.port)).toBe("ECONNREFUSED")
      yield* record("e2e SIGKILL", "process gone after SIGKILL (ms)", killedExit.at - sigkillAt)
    }))
})
