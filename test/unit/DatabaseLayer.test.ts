// The live Database layer without a PostgreSQL: a closed port, a socket that never answers, and a few lines of the
// PostgreSQL wire protocol on loopback (test/support/FakePostgres.ts), enough to see what the pool does with its
// connections. The real server is the integration suite's.
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import { Database } from "../../src/layers/Database.js"
import * as FakePostgres from "../support/FakePostgres.js"
import { spanNames, uncaughtExceptions } from "../support/Observe.js"
import { freePort } from "../support/Service.js"

const database = (
  port: number,
  options: { readonly timeout?: number; readonly maxConnections?: number; readonly idleTimeout?: number } = {}
) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(
      Database.layer({
        url: Redacted.make(`postgres://postgres:secret@127.0.0.1:${port}/postgres`),
        timeout: options.timeout ?? 300,
        ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
        ...(options.idleTimeout === undefined ? {} : { idleTimeout: options.idleTimeout })
      }),
      scope
    )
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    return { ping: Context.get(context, Database).ping, close: Scope.close(scope, Exit.void) }
  })

const reason = <E extends { readonly reason: string }>(effect: Effect.Effect<void, E>) =>
  Effect.map(Effect.flip(effect), (error) => error.reason)

describe("the live Database layer, without PostgreSQL", () => {
  it.scopedLive("is built without touching the network, and a closed port is connection refused", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const { ping } = yield* database(port)
      expect(yield* reason(ping)).toBe("connection refused")
    }))

  it.scopedLive("pings with SELECT 1, as application dashboard, over one reused connection", () =>
    Effect.gen(function*() {
      const server = yield* FakePostgres.make({ _tag: "answer" })
      const { close, ping } = yield* database(server.port)
      yield* ping
      yield* ping
      yield* ping
      expect(server.queries.map((query) => query.text)).toEqual(["SELECT 1", "SELECT 1", "SELECT 1"])
      expect(server.connections).toHaveLength(1)
      expect(server.connections[0]!.parameters).toMatchObject({ user: "postgres", application_name: "dashboard" })
      // Closing the layer ends the pool: its connection is closed.
      yield* close
      yield* Effect.sleep("50 millis")
      expect(server.connections[0]!.closed).toBe(true)
    }))

  it.scopedLive("a server that never answers the startup is timeout, within the budget", () =>
    Effect.gen(function*() {
      const server = yield* FakePostgres.make({ _tag: "silent" })
      const { ping } = yield* database(server.port, { timeout: 200 })
      const [elapsed, why] = yield* Effect.timed(reason(ping))
      expect(why).toBe("timeout")
      expect(Duration.toMillis(elapsed)).toBeGreaterThanOrEqual(190)
      expect(Duration.toMillis(elapsed)).toBeLessThan(1_500)
    }))

  it.scopedLive("a query that never ends is timeout, and its connection is destroyed rather than reused", () =>
    Effect.gen(function*() {
      const server = yield* FakePostgres.make({ _tag: "swallowQueries" })
      const { ping } = yield* database(server.port, { timeout: 200 })
      expect(yield* reason(ping)).toBe("timeout")
      yield* Effect.sleep("100 millis")
      expect(server.connections).toHaveLength(1)
      expect(server.connections[0]!.closed).toBe(true)
      server.mode = { _tag: "answer" }
      yield* ping
      expect(server.connections).toHaveLength(2)
      expect(server.connections[1]!.closed).toBe(false)
    }))

  it.scopedLive("the pool holds at most maxConnections, 10 unless told", () =>
    Effect.gen(function*() {
      const server = yield* FakePostgres.make({ _tag: "swallowQueries" })
      const bounded = yield* database(server.port, { timeout: 400, maxConnections: 2 })
      yield* Effect.all(Array.from({ length: 5 }, () => Effect.either(bounded.ping)), { concurrency: "unbounded" })
      expect(server.connections.length).toBe(2)
      const other = yield* FakePostgres.make({ _tag: "swallowQueries" })
      const byDefault = yield* database(other.port, { timeout: 400 })
      yield* Effect.all(Array.from({ length: 12 }, () => Effect.either(byDefault.ping)), { concurrency: "unbounded" })
      expect(other.connections.length).toBe(10)
    }))

  it.scopedLive.each<[string, string, string]>([
    ["28P01", "password authentication failed for user \"postgres\"", "authentication failed"],
    ["53300", "sorry, too many clients already", "too many connections"],
    ["3D000", "database \"postgres\" does not exist", "database not found"],
    ["57P03", "the database system is starting up", "loading"]
  ])("a server that refuses with %s is %s → %s", ([code, text, expected]) =>
    Effect.gen(function*() {
      const server = yield* FakePostgres.make({ _tag: "refuse", code, message: text })
      const { ping } = yield* database(server.port)
      expect(yield* reason(ping)).toBe(expected)
    }))

  it.scopedLive("PostgreSQL ending an idle connection (a restart) costs nothing: the next check connects anew", () =>
    Effect.gen(function*() {
      // Without the pool's 'error' listener, the idle connection's error would be an uncaught exception.
      const uncaught = yield* uncaughtExceptions
      const server = yield* FakePostgres.make({ _tag: "answer" })
      const { ping } = yield* database(server.port)
      yield* ping
      server.terminateAll()
      yield* Effect.sleep("100 millis")
      expect(server.connections[0]!.closed).toBe(true)
      expect(uncaught).toEqual([])
      yield* ping
      expect(server.connections).toHaveLength(2)
    }))

  it.scopedLive("an idle connection is closed after idleTimeout, 10 s unless told", () =>
    Effect.gen(function*() {
      const server = yield* FakePostgres.make({ _tag: "answer" })
      const { ping } = yield* database(server.port, { idleTimeout: 100 })
      yield* ping
      const other = yield* FakePostgres.make({ _tag: "answer" })
      const byDefault = yield* database(other.port)
      yield* byDefault.ping
      yield* Effect.sleep("600 millis")
      expect(server.connections[0]!.closed).toBe(true)
      expect(other.connections[0]!.closed).toBe(false)
    }))

  it.scopedLive("each check is a span named Database.ping", () =>
    Effect.gen(function*() {
      const server = yield* FakePostgres.make({ _tag: "answer" })
      const { ping } = yield* database(server.port)
      const names = yield* spanNames(ping)
      expect(names).toContain("Database.ping")
    }))

  it.effect("the failing statics: NotInitialised reads not initialised", () =>
    Effect.gen(function*() {
      expect(Database.checkName).toBe("database")
      expect(yield* reason(Database.NotInitialised.ping)).toBe("not initialised")
    }))
})
