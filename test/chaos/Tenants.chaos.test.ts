// Chaos for tenants: 20 tenants on failing layers, the TestClock, no server. Each test names the invariant it proves.
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as TestClock from "effect/TestClock"
import * as Chaos from "../../src/layers/Chaos.js"
import { Database } from "../../src/layers/Database.js"
import * as Dependency from "../../src/layers/Dependency.js"
import { Redis } from "../../src/layers/Redis.js"
import * as TenantChaos from "../../src/layers/TenantChaos.js"
import { Readiness } from "../../src/Readiness.js"
import { Shutdown } from "../../src/Shutdown.js"
import { type TenantReport, Tenants, type TenantsSettings, type TenantTarget } from "../../src/Tenants.js"
import * as TestApp from "../support/TestApp.js"

const budgetMs = 500
const intervalMs = 1_000

/** Readiness over healthy shared dependencies and the tenants, built in the test's scope. */
const build = (targets: ReadonlyArray<TenantTarget>, settings: Partial<TenantsSettings> = {}) =>
  Layer.build(
    Readiness.layer([
      Dependency.check(Database, Database.Test),
      Dependency.check(Redis, Redis.Test),
      Tenants.dependency
    ])
      .pipe(
        Layer.provideMerge(Tenants.layerFromTargets(targets, settings)),
        Layer.provideMerge(TestApp.settings({ timeout: `${budgetMs} millis`, interval: `${intervalMs} millis` })),
        Layer.provide(Shutdown.layer)
      )
  ).pipe(
    Effect.map((context) => ({ readiness: Context.get(context, Readiness), tenants: Context.get(context, Tenants) }))
  )

/** Lets every fiber that can run at the current (stopped) time run. */
const settle = Effect.gen(function*() {
  for (let i = 0; i < 100; i++) yield* Effect.yieldNow()
})

const advance = (millis: number) => Effect.zipRight(TestClock.adjust(millis), settle)

const reportsById = (reports: ReadonlyArray<TenantReport>) => new Map(reports.map((report) => [report.tenant, report]))

type Expected = { readonly status: "up" } | {
  readonly status: "down"
  readonly database?: string
  readonly redis?: string
}

interface Fleet {
  readonly targets: ReadonlyArray<TenantTarget>
  /** What each tenant must report once a round has finished, given the flapping tenants' switch. */
  readonly expected: (flapping: Chaos.Switch) => ReadonlyMap<string, Expected>
  readonly healthy: ReadonlyArray<string>
  readonly flap: Ref.Ref<Chaos.Switch>
}

const fleet = Effect.gen(function*() {
  const flap = yield* Ref.make(Chaos.up)
  const kinds: ReadonlyArray<readonly [string, TenantChaos.Fault, TenantChaos.Fault, Expected | "flapping"]> = [
    ["healthy-1", TenantChaos.Healthy, TenantChaos.Healthy, { status: "up" }],
    ["healthy-2", TenantChaos.Healthy, TenantChaos.Healthy, { status: "up" }],
    ["healthy-3", TenantChaos.Healthy, TenantChaos.Healthy, { status: "up" }],
    ["healthy-4", TenantChaos.Healthy, TenantChaos.Healthy, { status: "up" }],
    ["healthy-5", TenantChaos.Healthy, TenantChaos.Healthy, { status: "up" }],
    ["healthy-6", TenantChaos.Healthy, TenantChaos.Healthy, { status: "up" }],
    ["slow-1", TenantChaos.Slow("100 millis"), TenantChaos.Healthy, { status: "up" }],
    ["slow-2", TenantChaos.Healthy, TenantChaos.Slow("300 millis"), { status: "up" }],
    ["refused", TenantChaos.Unavailable("connection refused"), TenantChaos.Healthy, {
      status: "down",
      database: "connection refused"
    }],
    ["noperm", TenantChaos.Healthy, TenantChaos.Unavailable("permission denied"), {
      status: "down",
      redis: "permission denied"
    }],
    ["no-schema", TenantChaos.Unavailable("schema not found"), TenantChaos.Healthy, {
      status: "down",
      database: "schema not found"
    }],
    ["hanging-db", TenantChaos.Hanging, TenantChaos.Healthy, { status: "down", database: "timeout" }],
    ["hanging-redis", TenantChaos.Healthy, TenantChaos.Hanging, { status: "down", redis: "timeout" }],
    ["hanging-both", TenantChaos.Hanging, TenantChaos.Hanging, {
      status: "down",
      database: "timeout",
      redis: "timeout"
    }],
    ["too-slow", TenantChaos.Slow("2 seconds"), TenantChaos.Healthy, { status: "down", database: "timeout" }],
    ["broken-construction", TenantChaos.FailingConstruction, TenantChaos.Healthy, {
      status: "down",
      database: "not initialised"
    }],
    ["dying", TenantChaos.Healthy, TenantChaos.Dying, { status: "down", redis: "internal error" }],
    ["flapping-db", TenantChaos.Switchable(flap), TenantChaos.Healthy, "flapping"],
    ["flapping-redis", TenantChaos.Healthy, TenantChaos.Switchable(flap), "flapping"],
    ["flapping-both", TenantChaos.Switchable(flap), TenantChaos.Switchable(flap), "flapping"]
  ]
  const fleet: Fleet = {
    targets: kinds.map(([id, database, redis]) => TenantChaos.tenant(id, database, redis)),
    healthy: kinds.filter(([id]) => id.startsWith("healthy")).map(([id]) => id),
    flap,
    expected: (flapping) =>
      new Map(kinds.map(([id, , , expected]) => {
        if (expected !== "flapping") return [id, expected]
        if (flapping._tag === "None") return [id, { status: "up" }]
        return [id, {
          status: "down",
          ...(id === "flapping-redis" ? {} : { database: flapping.value }),
          ...(id === "flapping-db" ? {} : { redis: flapping.value })
        }]
      }))
  }
  return fleet
})

const expectReport = (report: TenantReport | undefined, expected: Expected) => {
  expect(report?.status).toBe(expected.status)
  if (expected.status === "up") return
  for (const name of ["database", "redis"] as const) {
    const reason = expected[name]
    expect(report?.checks[name]).toMatchObject(
      reason === undefined ? { status: "up" } : { status: "down", error: reason }
    )
  }
}

const flapStates = [Chaos.up, Chaos.down("connection reset"), Chaos.up, Chaos.down("loading"), Chaos.up, Chaos.up]

describe("chaos: tenants in bulkheads", () => {
  it.scoped("every healthy tenant is up and on time (checked at its round's start) in every round, whatever the other 14 do", () =>
    Effect.gen(function*() {
      const tenants = yield* fleet
      const { readiness, tenants: service } = yield* build(tenants.targets)
      yield* settle
      for (let round = 0; round < flapStates.length; round++) {
        // The round started at round × interval; healthy tenants answered at once, while others still hang.
        const startedAt = new Date(round * intervalMs).toISOString()
        const reports = reportsById(service.reports())
        for (const id of tenants.healthy) {
          expect(reports.get(id)).toMatchObject({ status: "up", checkedAt: startedAt })
        }
        // Ready from the first round on: under `any`, one tenant up settles the verdict, so the first readiness round
        // does not wait for the hung tenants' budget.
        expect((yield* readiness.current).status).toBe("ready")
        yield* Ref.set(tenants.flap, flapStates[round + 1] ?? Chaos.up)
        yield* advance(intervalMs)
      }
    }))

  it.scoped("one tenant's failure never changes another tenant's reported state: each reads what it alone would", () =>
    Effect.gen(function*() {
      const tenants = yield* fleet
      const { tenants: service } = yield* build(tenants.targets)
      yield* settle
      for (let round = 0; round < flapStates.length; round++) {
        // The switch was set before the round started (round 0 starts as the service is built).
        const flapping = flapStates[round]!
        // Past the budget, every check of this round has finished or timed out.
        yield* advance(budgetMs)
        const reports = reportsById(service.reports())
        for (const [id, expected] of tenants.expected(flapping)) expectReport(reports.get(id), expected)
        const counts = service.counts()
        const up = [...tenants.expected(flapping).values()].filter((e) => e.status === "up").length
        expect(counts).toEqual({ up, down: 20 - up, "not initialised": 0 })
        yield* Ref.set(tenants.flap, flapStates[round + 1] ?? Chaos.up)
        yield* advance(intervalMs - budgetMs)
      }
    }))

  it.scoped("policy any: ready while one tenant is up; not ready (no serviceable tenant) when none is", () =>
    Effect.gen(function*() {
      const state = yield* Ref.make(Chaos.up)
      const targets = [
        TenantChaos.tenant("a", TenantChaos.Switchable(state)),
        TenantChaos.tenant("b", TenantChaos.Hanging),
        TenantChaos.tenant("c", TenantChaos.Unavailable())
      ]
      const { readiness } = yield* build(targets, { policy: "any" })
      yield* advance(budgetMs)
      const ready = yield* readiness.refresh
      expect(ready.status).toBe("ready")
      expect(ready.checks.tenants).toMatchObject({ status: "up" })
      expect(ready.counts?.tenants).toEqual({ up: 1, down: 2, "not initialised": 0 })
      yield* Ref.set(state, Chaos.down("connection refused"))
      yield* advance(intervalMs)
      const none = yield* readiness.refresh
      expect(none.status).toBe("not ready")
      expect(none.checks.tenants).toMatchObject({ status: "down", error: "no serviceable tenant" })
      expect(none.counts?.tenants).toEqual({ up: 0, down: 3, "not initialised": 0 })
      // The shared checks are untouched by the tenants.
      expect(none.checks.database).toMatchObject({ status: "up" })
      expect(none.checks.redis).toMatchObject({ status: "up" })
    }))

  it.scoped("the first readiness round answers once the policy's verdict is settled, not at a hung tenant's budget", () =>
    Effect.gen(function*() {
      for (const [policy, expected] of [["any", "ready"], ["all", "not ready"]] as const) {
        const { readiness } = yield* build([
          TenantChaos.tenant("hung", TenantChaos.Hanging),
          TenantChaos.tenant("up", TenantChaos.Healthy),
          TenantChaos.tenant("refused", TenantChaos.Unavailable("connection refused"))
        ], { policy })
        // No time has passed: the hung tenant is still within its budget.
        yield* settle
        const first = yield* readiness.current
        expect(first.checkedAt).toBe(0)
        expect(first.status).toBe(expected)
        expect(first.checks.tenants).toMatchObject(
          policy === "any" ? { status: "up" } : { status: "down", error: "tenant unavailable" }
        )
      }
    }))

  it.scoped("policy all: not ready (tenant unavailable) while any tenant is down; ready once every tenant is up", () =>
    Effect.gen(function*() {
      const state = yield* Ref.make(Chaos.down("timeout"))
      const targets = [
        TenantChaos.tenant("a", TenantChaos.Healthy),
        TenantChaos.tenant("b", TenantChaos.Switchable(state)),
        TenantChaos.tenant("c", TenantChaos.Slow("50 millis"))
      ]
      const { readiness } = yield* build(targets, { policy: "all" })
      yield* advance(budgetMs)
      const partly = yield* readiness.refresh
      expect(partly.checks.tenants).toMatchObject({ status: "down", error: "tenant unavailable" })
      expect(partly.status).toBe("not ready")
      yield* Ref.set(state, Chaos.up)
      yield* advance(intervalMs)
      const all = yield* readiness.refresh
      expect(all.status).toBe("ready")
      expect(all.counts?.tenants).toEqual({ up: 3, down: 0, "not initialised": 0 })
    }))

  it.scoped("a hung tenant's check is started once however many rounds pass (single flight), and gives its slot back at its budget", () =>
    Effect.gen(function*() {
      const starts = yield* Ref.make(0)
      const hung = Layer.succeed(
        Database,
        Database.of({
          ping: Effect.zipRight(Ref.update(starts, (n) => n + 1), Effect.never.pipe(Effect.uninterruptible))
        })
      )
      const targets = [
        ...Array.from({ length: 6 }, (_, i) => TenantChaos.tenant(`hung-${i}`, TenantChaos.Healthy)).map((target) => ({
          ...target,
          database: hung
        })),
        TenantChaos.tenant("healthy", TenantChaos.Healthy)
      ]
      // Two slots for six hung tenants: each gives its slot back at the budget, so the healthy one, last in line,
      // is checked after three budgets rather than never.
      const { tenants } = yield* build(targets, { concurrency: 2 })
      yield* advance(3 * budgetMs - 1)
      expect(reportsById(tenants.reports()).get("healthy")?.status).toBe("not initialised")
      yield* advance(1)
      expect(reportsById(tenants.reports()).get("healthy")?.status).toBe("up")
      for (let round = 0; round < 5; round++) yield* advance(intervalMs)
      expect(yield* Ref.get(starts)).toBe(6)
      for (const report of tenants.reports()) {
        if (report.tenant !== "healthy") expectReport(report, { status: "down", database: "timeout" })
      }
    }))

  it.scoped("a probe never waits on a tenant: the tenants check reads the counts while tenants hang", () =>
    Effect.gen(function*() {
      const targets = [TenantChaos.tenant("ok", TenantChaos.Healthy), TenantChaos.tenant("stuck", TenantChaos.Hanging)]
      const { readiness } = yield* build(targets)
      yield* advance(budgetMs)
      // Each later round hangs on "stuck" again (it reads timeout at once, its check still running); a readiness round
      // finishes with the clock stopped.
      for (let round = 0; round < 3; round++) {
        yield* advance(intervalMs)
        const snapshot = yield* Effect.fork(readiness.refresh)
        yield* settle
        const done = snapshot.unsafePoll()
        expect(done).not.toBeNull()
        const result = yield* Fiber.join(snapshot)
        expect(result.status).toBe("ready")
        expect(result.counts?.tenants).toEqual({ up: 1, down: 1, "not initialised": 0 })
      }
    }))
})
