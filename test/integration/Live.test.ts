// The live layers against the machine's real PostgreSQL and Redis, and against a closed port and a socket that
// accepts and never answers.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Net from "node:net"
import { Database } from "../../src/layers/Database.js"
import { Redis } from "../../src/layers/Redis.js"
import * as TestApp from "../support/TestApp.js"

const budgetMs = 300
// Wide enough for a busy 2-core machine; a hung dependency must cost a probe its budget, not seconds.
const marginMs = 300
const settings = TestApp.settings({ timeout: `${budgetMs} millis`, interval: "50 millis" })

const postgresUrl = (port = 5432, database = "postgres", user = "postgres") =>
  Redacted.make(`postgres://${user}@127.0.0.1:${port}/${database}`)
const redisUrl = (port = 6379) => Redacted.make(`redis://127.0.0.1:${port}`)

const liveDatabase = (url = postgresUrl()) => Database.layer({ url, timeout: `${budgetMs} millis` })
const liveRedis = (url = redisUrl()) => Redis.layer({ url, timeout: `${budgetMs} millis` })

/** A loopback port with nothing listening on it. */
const closedPort = Effect.promise(() =>
  new Promise<number>((resolve) => {
    const server = Net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as Net.AddressInfo
      server.close(() => resolve(port))
    })
  })
)

/** A loopback socket that accepts connections and never answers; closed with the test's scope. */
const hungPort = Effect.acquireRelease(
  Effect.promise(() =>
    new Promise<{ server: Net.Server; sockets: Set<Net.Socket> }>((resolve) => {
      const sockets = new Set<Net.Socket>()
      const server = Net.createServer((socket) => {
        sockets.add(socket)
        socket.on("error", () => {})
        socket.on("close", () => sockets.delete(socket))
      }).listen(0, "127.0.0.1", () => resolve({ server, sockets }))
    })
  ),
  ({ server, sockets }) =>
    Effect.promise(() => {
      sockets.forEach((socket) => socket.destroy())
      return new Promise<void>((resolve) => server.close(() => resolve()))
    })
).pipe(Effect.map(({ server }) => (server.address() as Net.AddressInfo).port))

/** Probes until the report settles on a status for the check, failing past `withinMs`. */
const settle = (app: TestApp.Served, check: "database" | "redis", status: "up" | "down", withinMs = 3000) =>
  Effect.gen(function*() {
    const start = performance.now()
    while (true) {
      const probe = yield* app.ready
      expect(probe.status).toBe(200)
      if (probe.body.checks[check]?.status === status && probe.body.checks[check]?.error !== "not initialised") {
        return probe
      }
      if (performance.now() - start > withinMs) {
        return yield* Effect.dieMessage(`${check} did not become ${status} within ${withinMs} ms: ${probe.text}`)
      }
      yield* Effect.sleep("20 millis")
    }
  })

describe("live layers against the real PostgreSQL and Redis", () => {
  it.scopedLive("both reachable → 200 ready, with real SELECT 1 and PING latencies", () =>
    Effect.gen(function*() {
      const app = yield* TestApp.serve({ database: liveDatabase(), redis: liveRedis(), settings })
      yield* settle(app, "database", "up")
      const probe = yield* settle(app, "redis", "up")
      expect(probe.body.status).toBe("ready")
      expect(probe.body.checks.database?.latencyMs).toBeLessThan(budgetMs)
      expect(probe.body.checks.redis?.latencyMs).toBeLessThan(budgetMs)
    }))

  it.scopedLive("the service starts while both are down, reports connection refused, and serves /healthz", () =>
    Effect.gen(function*() {
      const app = yield* TestApp.serve({
        database: liveDatabase(postgresUrl(yield* closedPort)),
        redis: liveRedis(redisUrl(yield* closedPort)),
        settings
      })
      expect((yield* app.request("/healthz")).status).toBe(200)
      yield* settle(app, "database", "down")
      const probe = yield* settle(app, "redis", "down")
      expect(probe.body.status).toBe("not ready")
      expect(probe.body.checks.database?.error).toBe("connection refused")
      expect(probe.body.checks.redis?.error).toBe("connection refused")
      for (let i = 0; i < 5; i++) {
        const again = yield* app.ready
        expect(again.elapsedMs).toBeLessThan(budgetMs + marginMs)
        expect(again.body.status).toBe("not ready")
      }
    }))

  it.scopedLive("a socket that accepts and never answers → timeout within budget + margin on every probe", () =>
    Effect.gen(function*() {
      const app = yield* TestApp.serve({
        database: liveDatabase(postgresUrl(yield* hungPort)),
        redis: liveRedis(redisUrl(yield* hungPort)),
        settings
      })
      yield* settle(app, "database", "down")
      yield* settle(app, "redis", "down")
      for (let i = 0; i < 8; i++) {
        const probe = yield* app.ready
        expect(probe.status).toBe(200)
        expect(probe.elapsedMs).toBeLessThan(budgetMs + marginMs)
        expect(probe.body.checks.database).toMatchObject({ status: "down", error: "timeout" })
        expect(probe.body.checks.redis).toMatchObject({ status: "down", error: "timeout" })
        const health = yield* app.request("/healthz")
        expect(health.status).toBe(200)
        expect(health.elapsedMs).toBeLessThan(marginMs)
      }
    }))

  it.scopedLive("a database that does not exist and a role that does not exist are named as such", () =>
    Effect.gen(function*() {
      const missingDatabase = yield* TestApp.serve({
        database: liveDatabase(postgresUrl(5432, "no_such_database_here")),
        redis: liveRedis(),
        settings
      })
      expect((yield* settle(missingDatabase, "database", "down")).body.checks.database?.error).toBe(
        "database not found"
      )
      const missingRole = yield* TestApp.serve({
        database: liveDatabase(postgresUrl(5432, "postgres", "no_such_role_here")),
        redis: liveRedis(),
        settings
      })
      expect((yield* settle(missingRole, "database", "down")).body.checks.database?.error).toBe(
        "authentication failed"
      )
    }))

  it.scopedLive("a failing check never shows the connection URL or its password", () =>
    Effect.gen(function*() {
      const app = yield* TestApp.serve({
        database: liveDatabase(Redacted.make(`postgres://app:s3cret-password@127.0.0.1:${yield* closedPort}/app`)),
        redis: liveRedis(Redacted.make(`redis://default:s3cret-password@127.0.0.1:${yield* closedPort}`)),
        settings
      })
      yield* settle(app, "database", "down")
      const probe = yield* settle(app, "redis", "down")
      expect(probe.text).not.toMatch(/s3cret|127\.0\.0\.1|postgres:|redis:/)
    }))
})
