// Issue 12 on real servers: six tenants of a real `node dist/main.js`, three with a database of their own and three
// with a schema in the shared database, all on a private PostgreSQL, each with its own ACL user on a private Redis,
// and every tenant's database and Redis behind a fault proxy of its own. One tenant's database and another's Redis
// are blackholed: exactly those two read down, the others stay up in every sample, the node follows its policy (one
// process under `any`, one under `all`), both recover without a restart, and no connection leaks at the servers.
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Redacted, type Scope } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import Pg from "pg"
import * as FaultProxy from "../support/FaultProxy.js"
import { Fault } from "../support/FaultProxy.js"
import * as PrivateServers from "../support/PrivateServers.js"
import * as Service from "../support/Service.js"

const intervalMillis = 100
const budgetMillis = 500
/** A faulted tenant reads down within budget + interval; a recovered one up within a few rounds (busy 2 cores). */
const settleMillis = 5_000

type TenantState = "up" | "down" | "not initialised"

interface TenantAnswer {
  readonly tenant: string
  readonly status: TenantState
  readonly checks: Record<"database" | "redis", { readonly status: string; readonly error?: string }>
}

interface ReadyzBody {
  readonly status: "ready" | "not ready"
  readonly checks: Record<string, { readonly status: string; readonly error?: string }>
  readonly tenants: Record<TenantState, number>
}

const databaseTenants = ["dba", "dbb", "dbc"] as const
const schemaTenants = ["sa", "sb", "sc"] as const
const allTenants = [...databaseTenants, ...schemaTenants]
/** The two faults of the scenario: one tenant's database, another tenant's Redis. */
const databaseFaulted = "dba"
const redisFaulted = "sb"

const sql = (url: string, statements: ReadonlyArray<string>) =>
  Effect.promise(async () => {
    const client = new Pg.Client({ connectionString: url })
    await client.connect()
    try {
      const rows: Array<Record<string, unknown>> = []
      for (const statement of statements) rows.push(...(await client.query(statement)).rows)
      return rows
    } finally {
      await client.end()
    }
  })

const json = <A>(port: number, path: string) =>
  Effect.flatMap(Service.get(port, path), (answer) =>
    typeof answer.status === "number"
      ? Effect.succeed(JSON.parse(answer.body) as A)
      : Effect.dieMessage(`GET ${path}: ${answer.status}`))

const tenantOf = (port: number, id: string) => json<TenantAnswer>(port, `/readyz/tenants/${id}`)

/** Polls until `condition` holds, or dies after `millis` with what it saw last. */
const eventually = <A>(what: string, millis: number, read: Effect.Effect<A>, condition: (a: A) => boolean) =>
  Effect.gen(function*() {
    const deadline = performance.now() + millis
    while (true) {
      const seen = yield* read
      if (condition(seen)) return performance.now() - (deadline - millis)
      if (performance.now() > deadline) {
        return yield* Effect.dieMessage(`${what}: not within ${millis} ms: ${JSON.stringify(seen)}`)
      }
      yield* Effect.sleep("25 millis")
    }
  })

const measured: Record<string, number> = {}
afterAll(() => console.table(measured))

describe("tenants on real servers", () => {
  it.scopedLive(
    "a blackholed tenant database and another tenant's Redis take down exactly those two; the policy decides the node",
    () =>
      Effect.gen(function*() {
        const postgres = yield* PrivateServers.postgres({ maxConnections: 100 })
        const redis = yield* PrivateServers.redis()
        const admin = Redacted.value(postgres.url())
        const at = (database: string) => admin.replace(/\/postgres$/, `/${database}`)

        // Database tenants: a login role and a database each. Schema tenants: a role with USAGE on its schema in the
        // shared database, which the service's superuser may SET ROLE to. Redis: one ACL user per tenant, its prefix.
        yield* sql(admin, [
          ...databaseTenants.flatMap((id) => [`CREATE ROLE ${id} LOGIN`, `CREATE DATABASE ${id} OWNER ${id}`]),
          "CREATE DATABASE shared"
        ])
        yield* sql(
          at("shared"),
          schemaTenants.flatMap((id) => [`CREATE ROLE ${id}`, `CREATE SCHEMA ${id} AUTHORIZATION ${id}`])
        )
        for (const id of [...allTenants, "badacl"]) {
          const keys = id === "badacl" ? "~someone-else:*" : `~${id}:*`
          yield* Effect.orDie(redis.command("ACL", "SETUSER", id, "on", ">pw", keys, "+exists"))
        }

        const proxy = (port: number) => FaultProxy.make({ target: { host: "127.0.0.1", port } })
        const sharedDatabase = yield* proxy(postgres.port)
        const databaseProxies = new Map<string, FaultProxy.FaultProxy>()
        for (const id of databaseTenants) databaseProxies.set(id, yield* proxy(postgres.port))
        const redisProxies = new Map<string, FaultProxy.FaultProxy>()
        for (const id of [...allTenants, "badacl"]) redisProxies.set(id, yield* proxy(redis.port))

        const tenantEntry = (id: string) => ({
          id,
          postgres: (databaseTenants as ReadonlyArray<string>).includes(id)
            ? { url: `postgres://${id}@127.0.0.1:${databaseProxies.get(id)!.port}/${id}`, maxConnections: 2 }
            : id === "badacl"
            ? { schema: "public" }
            : { schema: id, role: id },
          redis: { url: `redis://${id}:pw@127.0.0.1:${redisProxies.get(id)!.port}`, keyPrefix: `${id}:` }
        })
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "dashboard-tenants-faults-"))),
          (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
        )
        const file = Path.join(dir, "tenants.json")
        const writeTenants = (ids: ReadonlyArray<string>) =>
          Effect.sync(() => Fs.writeFileSync(file, JSON.stringify({ tenants: ids.map(tenantEntry) })))
        yield* writeTenants(allTenants)

        const spawn = (policy: "any" | "all"): Effect.Effect<Service.Service, Service.ServiceError, Scope.Scope> =>
          Service.spawn({
            env: {
              TENANTS_FILE: file,
              READINESS_TENANTS: policy,
              DATABASE_URL: `postgres://postgres@127.0.0.1:${sharedDatabase.port}/shared`,
              REDIS_URL: Redacted.value(redis.url()),
              READINESS_INTERVAL_MS: String(intervalMillis),
              READINESS_TIMEOUT_MS: String(budgetMillis)
            }
          })
        const services = { any: yield* spawn("any"), all: yield* spawn("all") }
        const readyz = (policy: keyof typeof services) => json<ReadyzBody>(services[policy].port, "/readyz")

        for (const policy of ["any", "all"] as const) {
          yield* eventually(`${policy}: all six tenants up`, settleMillis, readyz(policy), (body) =>
            body.status === "ready" && body.tenants.up === 6)
        }

        // Connections at the servers, by role and database, and by Redis user (the asking connection excluded).
        const postgresConnections = Effect.map(
          sql(admin, [
            "SELECT usename || '/' || datname AS who, count(*)::int AS n FROM pg_stat_activity " +
            "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() GROUP BY 1"
          ]),
          (rows) =>
            Object.fromEntries(rows.map((row) => [row.who as string, row.n as number]))
        )
        const redisConnections = Effect.map(Effect.orDie(redis.command("CLIENT", "LIST")), (list) => {
          const byUser: Record<string, number> = {}
          for (const line of list.split("\n")) {
            const user = /\buser=(\S+)/.exec(line)?.[1]
            if (user !== undefined && !/\bcmd=client\|list\b/.test(line)) {
              byUser[user] = (byUser[user] ?? 0) + 1
            }
          }
          return byUser
        })
        const before = { postgres: yield* postgresConnections, redis: yield* redisConnections }
        // Two processes: each database tenant's pool holds at most maxConnections (2), each tenant one Redis client.
        for (const id of databaseTenants) {
          expect(before.postgres[`${id}/${id}`] ?? 0).toBeLessThanOrEqual(4)
        }
        for (const id of allTenants) {
          expect(before.redis[id]).toBe(2)
        }

        const flap = Effect.gen(function*() {
          const faultedAt = performance.now()
          yield* databaseProxies.get(databaseFaulted)!.set(Fault.blackhole)
          yield* redisProxies.get(redisFaulted)!.set(Fault.blackhole)
          for (const policy of ["any", "all"] as const) {
            const port = services[policy].port
            yield* eventually(
              `${policy}: ${databaseFaulted}'s database times out`,
              settleMillis,
              tenantOf(port, databaseFaulted),
              (t) =>
                t.status === "down" && t.checks.database.error === "timeout" && t.checks.redis.status === "up"
            )
            yield* eventually(
              `${policy}: ${redisFaulted}'s Redis times out`,
              settleMillis,
              tenantOf(port, redisFaulted),
              (t) =>
                t.status === "down" && t.checks.redis.error === "timeout" && t.checks.database.status === "up"
            )
          }
          measured["both faulted tenants read timeout (ms)"] = performance.now() - faultedAt
          // /readyz reports the node's last round, which reads the tenant counts: at most one interval behind.
          for (const policy of ["any", "all"] as const) {
            yield* eventually(`${policy}: /readyz counts two tenants down`, settleMillis, readyz(policy), (body) =>
              body.tenants.down === 2)
          }

          // The invariant: while the two are down, every other tenant is up in every sample, and each node follows
          // its policy.
          for (let sample = 0; sample < 10; sample++) {
            for (const policy of ["any", "all"] as const) {
              const port = services[policy].port
              for (const id of allTenants) {
                if (id === databaseFaulted || id === redisFaulted) {
                  continue
                }
                expect((yield* tenantOf(port, id)).status, `${policy}: ${id}`).toBe("up")
              }
              const body = yield* readyz(policy)
              expect(body.tenants).toEqual({ up: 4, down: 2, "not initialised": 0 })
              expect(body.checks.database?.status).toBe("up")
              expect(body.checks.redis?.status).toBe("up")
              if (policy === "any") {
                expect(body.status).toBe("ready")
              } else {
                expect(body.status).toBe("not ready")
                expect(body.checks.tenants).toMatchObject({ status: "down", error: "tenant unavailable" })
              }
            }
            yield* Effect.sleep(Duration.millis(intervalMillis))
          }

          const passedAt = performance.now()
          yield* databaseProxies.get(databaseFaulted)!.set(Fault.pass)
          yield* redisProxies.get(redisFaulted)!.set(Fault.pass)
          for (const policy of ["any", "all"] as const) {
            yield* eventually(`${policy}: recovered without a restart`, settleMillis, readyz(policy), (body) =>
              body.status === "ready" && body.tenants.up === 6)
          }
          measured["both recovered, both policies (ms)"] = performance.now() - passedAt
        })

        yield* flap
        const afterOne = { postgres: yield* postgresConnections, redis: yield* redisConnections }
        yield* flap
        yield* flap
        // Settled: whatever a blackholed check left behind is closed by now.
        yield* Effect.sleep("1 second")
        const afterThree = { postgres: yield* postgresConnections, redis: yield* redisConnections }
        for (const id of databaseTenants) {
          expect(afterThree.postgres[`${id}/${id}`] ?? 0, id).toBeLessThanOrEqual(4)
        }
        for (const id of allTenants) {
          expect(afterThree.redis[id] ?? 0, id).toBeLessThanOrEqual(2)
        }
        // No growth with the number of flaps.
        const total = (counts: Record<string, number>) =>
          Object.values(counts).reduce((sum, n) =>
            sum + n, 0)
        expect(total(afterThree.postgres)).toBeLessThanOrEqual(total(afterOne.postgres))
        expect(total(afterThree.redis)).toBeLessThanOrEqual(total(afterOne.redis))
        measured["PostgreSQL connections after one flap"] = total(afterOne.postgres)
        measured["PostgreSQL connections after three flaps"] = total(afterThree.postgres)
        measured["Redis connections after three flaps"] = total(afterThree.redis)

        // A reload adds a tenant whose ACL user lacks its prefix: it starts `not initialised`, then reads its own
        // `permission denied` while the others stay up; removing it closes its client.
        yield* writeTenants([...allTenants, "badacl"])
        yield* services.any.signal("SIGHUP")
        yield* services.all.signal("SIGHUP")
        for (const policy of ["any", "all"] as const) {
          const port = services[policy].port
          yield* eventually(`${policy}: badacl reads permission denied`, settleMillis, tenantOf(port, "badacl"), (t) =>
            t.status === "down" && t.checks.redis.error === "permission denied" && t.checks.database.status === "up")
          yield* eventually(`${policy}: /readyz counts badacl down`, settleMillis, readyz(policy), (body) =>
            body.tenants.up === 6 && body.tenants.down === 1 && body.tenants["not initialised"] === 0 &&
            body.status === (policy === "any" ? "ready" : "not ready"))
        }
        // Removing badacl and a database tenant closes their clients and the tenant's own pool, seen at the servers.
        const removed = "dbc"
        expect(before.postgres[`${removed}/${removed}`] ?? 0).toBeGreaterThan(0)
        const kept = allTenants.filter((id) =>
          id !== removed
        )
        yield* writeTenants(kept)
        yield* services.any.signal("SIGHUP")
        yield* services.all.signal("SIGHUP")
        yield* eventually("badacl's Redis clients closed at the server", settleMillis, redisConnections, (byUser) =>
          (byUser["badacl"] ?? 0) === 0 && (byUser[removed] ?? 0) === 0)
        yield* eventually(`${removed}'s pool closed at the server`, settleMillis, postgresConnections, (byRole) =>
          (byRole[`${removed}/${removed}`] ?? 0) === 0)
        yield* writeTenants(allTenants)
        yield* services.any.signal("SIGHUP")
        yield* services.all.signal("SIGHUP")
        for (const policy of ["any", "all"] as const) {
          yield* eventually(`${policy}: ready with six tenants again`, settleMillis, readyz(policy), (body) =>
            body.status === "ready" && body.tenants.up === 6 && body.tenants.down === 0)
          expect((yield* Service.get(services[policy].port, "/readyz/tenants/badacl")).status).toBe(404)
        }

        for (const service of Object.values(services)) {
          yield* service.assertAlive
          expect(service.output()).not.toMatch(/unhandled|uncaught|"level":"(ERROR|FATAL)"/i)
        }
      }),
    120_000
  )
})
