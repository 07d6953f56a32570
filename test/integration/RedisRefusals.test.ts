// The live Redis layer against private Redis servers that say no: a database index the server does not have, a
// wrong password, no room for another client. Readiness must read each as down with its category, and a refusal
// must not become a reconnect storm.
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Net from "node:net"
import { Database } from "../../src/layers/Database.js"
import { Redis } from "../../src/layers/Redis.js"
import * as PrivateServers from "../support/PrivateServers.js"
import * as TestApp from "../support/TestApp.js"

const budgetMs = 300

/** Probes until the Redis check settles on a status (and error), failing past `withinMs`. */
const settle = (app: TestApp.Served, status: "up" | "down", error?: string, withinMs = 5000) =>
  Effect.gen(function*() {
    const start = performance.now()
    while (true) {
      const probe = yield* app.ready
      const redis = probe.body.checks.redis
      if (redis?.status === status && (error === undefined || redis.error === error)) return probe
      if (performance.now() - start > withinMs) {
        return yield* Effect.dieMessage(
          `redis did not become ${status} ${error ?? ""} within ${withinMs} ms: ${probe.text}`
        )
      }
      yield* Effect.sleep("50 millis")
    }
  })

const serve = (redis: PrivateServers.PrivateRedis, url: Parameters<PrivateServers.PrivateRedis["url"]>[0]) =>
  TestApp.serve({
    database: Database.Test,
    redis: Redis.layer({ url: redis.url(url), timeout: `${budgetMs} millis` }),
    settings: TestApp.settings({ timeout: `${budgetMs} millis`, interval: "1 second" })
  })

describe("Redis refusing what the service is configured to use", () => {
  it.scopedLive("a database index beyond `databases` reads down as database not found, though PING would succeed", () =>
    Effect.gen(function*() {
      const redis = yield* PrivateServers.redis({ password: "pw", databases: 4 })
      const outOfRange = yield* serve(redis, { database: "99" })
      const probe = yield* settle(outOfRange, "down", "database not found")
      expect(probe.body.status).toBe("not ready")
      // It stays down: the connection whose SELECT failed is never taken as ready.
      yield* Effect.sleep("1500 millis")
      expect((yield* outOfRange.ready).body.checks.redis).toMatchObject({ status: "down", error: "database not found" })

      // The last database there is works, as configured.
      const lastDatabase = yield* serve(redis, { database: "3" })
      yield* settle(lastDatabase, "up")
    }))

  it.scopedLive("a negative index handed to the layer directly reads down too (configuration rejects it first)", () =>
    Effect.gen(function*() {
      const redis = yield* PrivateServers.redis({ databases: 4 })
      yield* settle(yield* serve(redis, { database: "-1" }), "down", "not initialised")
    }))

  it.scopedLive("a wrong password reads authentication failed, and costs about one connection per round, not a storm", () =>
    Effect.gen(function*() {
      const redis = yield* PrivateServers.redis({ password: "right-password" })
      const app = yield* serve(redis, { password: "wrong-password" })
      yield* settle(app, "down", "authentication failed")
      const before = yield* redis.connectionsReceived
      const windowMs = 6000
      const start = performance.now()
      yield* Effect.sleep(`${windowMs} millis`)
      const after = yield* redis.connectionsReceived
      const seconds = (performance.now() - start) / 1000
      const connections = after - before - 1 // the first INFO's own connection
      console.log(
        `wrong password: ${connections} connections in ${seconds.toFixed(1)} s (${
          (connections / seconds).toFixed(2)
        }/s) at the server, readiness interval 1 s`
      )
      // One round a second: about 6; a storm is about 19 a second (over 100 here).
      expect(connections).toBeLessThanOrEqual(Math.ceil(seconds) + 3)
      expect((yield* app.ready).body.checks.redis).toMatchObject({ status: "down", error: "authentication failed" })

      // Fixing the password on the server is seen within a round or two: retries have not stopped for good.
      yield* redis.command("CONFIG", "SET", "requirepass", "wrong-password")
      yield* settle(app, "up", undefined, 4000)
    }))

  it.scopedLive("an ACL user that does not exist reads authentication failed", () =>
    Effect.gen(function*() {
      const redis = yield* PrivateServers.redis({ password: "pw" })
      yield* redis.command("ACL", "SETUSER", "reader", "on", ">reader-pw", "~*", "+@all")
      const withUser = (user: string, password: string) => serve(redis, { user, password })
      yield* settle(yield* withUser("reader", "reader-pw"), "up")
      yield* settle(yield* withUser("nobody", "reader-pw"), "down", "authentication failed")
    }))

  it.scopedLive("a Redis with no room for another client reads too many connections", () =>
    Effect.gen(function*() {
      const redis = yield* PrivateServers.redis({ maxclients: 1 })
      // Take the one slot and keep it.
      yield* Effect.acquireRelease(
        Effect.async<Net.Socket>((resume) => {
          const socket = Net.connect(redis.port, "127.0.0.1", () => resume(Effect.succeed(socket)))
          socket.on("error", () => {})
        }),
        (socket) => Effect.sync(() => socket.destroy())
      )
      yield* Effect.sleep("100 millis")
      const app = yield* serve(redis, {})
      yield* settle(app, "down", "too many connections")
    }))

  it.scopedLive("after a plain network failure the client reconnects by itself within its capped backoff", () =>
    Effect.gen(function*() {
      const redis = yield* PrivateServers.redis()
      // The layer alone, no readiness rounds: whatever connects to the server after the restart is the client's own
      // background reconnection, not a check.
      const client = Context.get(
        yield* Layer.build(Redis.layer({ url: redis.url(), timeout: `${budgetMs} millis` })),
        Redis
      )
      yield* client.ping.pipe(Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo("3 seconds"))))
      yield* redis.stop
      // Down, and read as such once the client has tried to reconnect.
      const down = yield* Effect.flip(client.ping).pipe(
        Effect.filterOrFail((error) => error.reason === "connection refused"),
        Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo("3 seconds")))
      )
      expect(down.reason).toBe("connection refused")
      // Long enough for a backoff that kept growing to pass its 250 ms cap many times over.
      yield* Effect.sleep("4 seconds")
      yield* redis.start
      // The cap (250 ms) and room for a busy machine; a doubling backoff would next try seconds from now.
      yield* Effect.sleep("700 millis")
      // The client's connection, beside the one asking.
      expect(yield* redis.connectedClients).toBe(1)
      yield* client.ping
    }))
})
