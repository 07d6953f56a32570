// A schema tenant's check without PostgreSQL: the fake server of test/support/FakePostgres.ts answers the
// transaction the check runs (BEGIN, the statement timeout, the role, the schema lookup, ROLLBACK), so the test sees
// what is sent, what each answer reads as, and which connections are kept. The real server is the integration suite's.
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import { Database } from "../../src/layers/Database.js"
import * as TenantSchema from "../../src/layers/TenantSchema.js"
import * as FakePostgres from "../support/FakePostgres.js"
import { spanNames, uncaughtExceptions } from "../support/Observe.js"

const lookup = "SELECT has_schema_privilege(oid, 'USAGE') AS usable FROM pg_namespace WHERE nspname = $1"

/** Answers the schema lookup as `schemas` says (absent: no row), and everything else with no rows. */
const schemas = (server: FakePostgres.FakePostgres, usable: Readonly<Record<string, boolean>>) => {
  server.answer = (query) => {
    const schema = query.parameters[0]
    return query.text === lookup && schema !== undefined && usable[schema] !== undefined
      ? FakePostgres.rows({ usable: usable[schema] })
      : FakePostgres.rows()
  }
}

const checks = (
  port: number,
  targets: ReadonlyArray<{ readonly schema: string; readonly role?: string }>,
  options: { readonly timeout?: number; readonly max?: number } = {}
) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const pool = TenantSchema.TenantSchemaPool.layer({
      url: Redacted.make(`postgres://dashboard:secret@127.0.0.1:${port}/postgres`),
      timeout: options.timeout ?? 300,
      ...(options.max === undefined ? {} : { max: options.max })
    })
    const context = yield* Layer.buildWithScope(pool, scope)
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    const pings = yield* Effect.forEach(targets, (target) =>
      Effect.map(
        Layer.build(Layer.provide(TenantSchema.layer(target), Layer.succeedContext(context))),
        (built) => Context.get(built, Database).ping
      ))
    return { pings, close: Scope.close(scope, Exit.void) }
  })

const reason = <E extends { readonly reason: string }>(effect: Effect.Effect<void, E>) =>
  Effect.map(Effect.flip(effect), (error) => error.reason)

describe("a schema tenant's check, without PostgreSQL", () => {
  it.scopedLive("runs the lookup in a transaction, as the tenant's role, under the budget, and keeps its connection", () =>
    Effect.gen(function*() {
      const server = yield* FakePostgres.make()
      schemas(server, { acme: true })
      const { close, pings: [ping] } = yield* checks(server.port, [{ schema: "acme", role: "acme\"role" }])
      yield* ping!
      yield* ping!
      expect(server.connections).toHaveLength(1)
      expect(server.connections[0]!.parameters).toMatchObject({ application_name: "dashboard-tenants" })
      const round = [
        "BEGIN",
        "SET LOCAL statement_timeout = 300",
        "SET LOCAL ROLE \"acme\"\"role\"",
        lookup,
        "ROLLBACK"
      ]
      expect(server.queries.map((query) => query.text)).toEqual([...round, ...round])
      expect(server.queries[3]!.parameters).toEqual(["acme"])
      // Closing the layer ends the pool.
      yield* close
      yield* Effect.sleep("50 millis")
      expect(server.connections[0]!.closed).toBe(true)
    }))

  it.scopedLive("without a role it sets none; a missing schema is schema not found, one it may not use permission denied", () =>
    Effect.gen(function*() {
      const server = yield* FakePostgres.make()
      schemas(server, { acme: true, locked: false })
      const { pings: [acme, gone, locked] } = yield* checks(server.port, [
        { schema: "acme" },
        { schema: "gone" },
        { schema: "locked" }
      ])
      yield* acme!
      expect(server.queries.map((query) => query.text)).toEqual([
        "BEGIN",
        "SET LOCAL statement_timeout = 300",
        lookup,
        "ROLLBACK"
      ])
      expect(yield* reason(gone!)).toBe("schema not found")
      expect(yield* reason(locked!)).toBe("permission denied")
      // Each ended its transaction: the one connection served all three.
      expect(server.connections).toHaveLength(1)
      expect(server.connections[0]!.closed).toBe(false)
    }))

  it.scopedLive("a role that does not exist is authentication failed, and the half-done transaction's connection is closed", () =>
    Effect.gen(function*() {
      const server = yield* FakePostgres.make()
      schemas(server, { acme: true })
      const { pings: [ping] } = yield* checks(server.port, [{ schema: "acme", role: "nobody" }])
      server.answer = (query) =>
        query.text.startsWith("SET LOCAL ROLE")
          ? FakePostgres.error("22023", "role \"nobody\" does not exist")
          : FakePostgres.rows()
      expect(yield* reason(ping!)).toBe("authentication failed")
      yield* Effect.sleep("50 millis")
      expect(server.connections[0]!.closed).toBe(true)
      expect(server.queries.map((query) => query.text)).not.toContain("ROLLBACK")
      // Any other error is read as PostgreSQL's: here, the statement timeout (57014).
      server.answer = (query) =>
        query.text === lookup
          ? FakePostgres.error("57014", "canceling statement due to statement timeout")
          : FakePostgres.rows()
      expect(yield* reason(ping!)).toBe("timeout")
      expect(server.connections).toHaveLength(2)
    }))

  it.scopedLive("the pool holds at most max connections, 4 unless told", () =>
    Effect.gen(function*() {
      const server = yield* FakePostgres.make({ _tag: "swallowQueries" })
      const targets = Array.from({ length: 6 }, (_, i) => ({ schema: `s${i}` }))
      const byDefault = yield* checks(server.port, targets, { timeout: 300 })
      yield* Effect.all(byDefault.pings.map(Effect.either), { concurrency: "unbounded" })
      expect(server.connections).toHaveLength(4)
      const other = yield* FakePostgres.make({ _tag: "swallowQueries" })
      const bounded = yield* checks(other.port, targets, { timeout: 300, max: 2 })
      yield* Effect.all(bounded.pings.map(Effect.either), { concurrency: "unbounded" })
      expect(other.connections).toHaveLength(2)
    }))

  it.scopedLive("PostgreSQL ending an idle connection (a restart) costs nothing: the next check connects anew", () =>
    Effect.gen(function*() {
      // Without the pool's 'error' listener, the idle connection's error would be an uncaught exception.
      const uncaught = yield* uncaughtExceptions
      const server = yield* FakePostgres.make()
      schemas(server, { acme: true })
      const { pings: [ping] } = yield* checks(server.port, [{ schema: "acme" }])
      yield* ping!
      server.terminateAll()
      yield* Effect.sleep("100 millis")
      expect(server.connections[0]!.closed).toBe(true)
      expect(uncaught).toEqual([])
      yield* ping!
      expect(server.connections).toHaveLength(2)
    }))

  it.scopedLive("each check is a span named TenantSchema.ping", () =>
    Effect.gen(function*() {
      const server = yield* FakePostgres.make()
      schemas(server, { acme: true })
      const { pings: [ping] } = yield* checks(server.port, [{ schema: "acme" }])
      const names = yield* spanNames(ping!)
      expect(names).toEqual(["TenantSchema.ping"])
    }))
})
