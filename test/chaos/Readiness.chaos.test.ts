// Chaos: failing test layers instead of live ones. Each test names the invariant it proves; none touches PostgreSQL
// or Redis.
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
import { Readiness, type ReadinessService } from "../../src/Readiness.js"
import { Shutdown } from "../../src/Shutdown.js"
import * as TestApp from "../support/TestApp.js"

const budgetMs = 200
const intervalMs = 1_000

const firstRound = <A extends { readonly readiness: ReadinessService }>(app: A) => Effect.as(app.readiness.refresh, app)

// These run on the TestClock although they probe over real HTTP on loopback: the fast path reads the snapshot with
// the clock of the layer that built it, so the clock decides every age, latency and round, and a probe that waited
// on a round would not be answered until the test moved the clock (TestApp gives each request a real-time limit).
describe("chaos: readiness over HTTP with failing dependencies", () => {
  it.scoped("database unavailable → 200 not ready, database down (connection refused), redis up", () =>
    Effect.gen(function*() {
      const app = yield* firstRound(yield* TestApp.serve({ database: Database.Unavailable(), redis: Redis.Test }))
      const probe = yield* app.ready
      expect(probe.status).toBe(200)
      expect(probe.body.status).toBe("not ready")
      expect(probe.body.checks.database).toMatchObject({ status: "down", error: "connection refused" })
      expect(probe.body.checks.redis).toMatchObject({ status: "up" })
    }))

  it.scoped("redis unavailable → 200 not ready, redis down with its reason, database up", () =>
    Effect.gen(function*() {
      const app = yield* firstRound(
        yield* TestApp.serve({ database: Database.Test, redis: Redis.Unavailable("authentication failed") })
      )
      const probe = yield* app.ready
      expect(probe.status).toBe(200)
      expect(probe.body.status).toBe("not ready")
      expect(probe.body.checks.redis).toMatchObject({ status: "down", error: "authentication failed" })
      expect(probe.body.checks.database).toMatchObject({ status: "up" })
    }))

  it.scoped("both unavailable → both reported down, each with its own reason", () =>
    Effect.gen(function*() {
      const app = yield* firstRound(
        yield* TestApp.serve({
          database: Database.Unavailable("timeout"),
          redis: Redis.Unavailable("connection reset")
        })
      )
      const probe = yield* app.ready
      expect(probe.status).toBe(200)
      expect(probe.body.status).toBe("not ready")
      expect(probe.body.checks.database).toMatchObject({ status: "down", error: "timeout" })
      expect(probe.body.checks.redis).toMatchObject({ status: "down", error: "connection reset" })
    }))

  // A snapshot is served as is until interval + budget, and a round that hangs gives up at the budget, so while
  // the rounds run on schedule a probe waits on none of them: every probe below is answered with the clock stopped.
  // (Only past interval + budget, when the background round has fallen behind, does a probe wait on one shared
  // refresh, which the budget bounds; the clock-level tests below cover the round itself.)
  it.scoped("a check that never completes costs each probe nothing on schedule (at most its budget), and /healthz nothing", () =>
    Effect.gen(function*() {
      const app = yield* TestApp.serve({
        database: Database.Hanging,
        redis: Redis.Test,
        settings: TestApp.settings({ timeout: `${budgetMs} millis`, interval: `${intervalMs} millis` })
      })
      const probe = Effect.gen(function*() {
        const health = yield* app.request("/healthz")
        expect(health.status).toBe(200)
        const ready = yield* app.ready
        expect(ready.status).toBe(200)
        return ready.body
      })

      // The first round hangs on the database until its budget; meanwhile probes read the fail-closed snapshot.
      const first = yield* probe
      expect(first.checks.database).toEqual({ status: "down", latencyMs: 0, error: "not initialised" })
      yield* TestClock.adjust(budgetMs)
      const timedOut = yield* probe
      expect(timedOut.status).toBe("not ready")
      expect(timedOut.checks.database).toEqual({ status: "down", latencyMs: budgetMs, error: "timeout" })
      expect(timedOut.checks.redis).toMatchObject({ status: "up" })
      expect(timedOut.ageMs).toBe(0)

      for (let round = 0; round < 3; round++) {
        // Half way through the next round, which hangs again: the previous snapshot, interval + half a budget old.
        yield* TestClock.adjust(intervalMs + budgetMs / 2)
        const during = yield* probe
        expect(during.checks.database).toEqual({ status: "down", latencyMs: budgetMs, error: "timeout" })
        expect(during.ageMs).toBe(intervalMs + budgetMs / 2)
        // At its budget the round gives up, and its report is the one served.
        yield* TestClock.adjust(budgetMs / 2)
        const after = yield* probe
        expect(after.checks.database).toEqual({ status: "down", latencyMs: budgetMs, error: "timeout" })
        expect(after.ageMs).toBe(0)
      }
    }))

  it.scoped("slow but within budget → ready, and the latency is reported", () =>
    Effect.gen(function*() {
      const app = yield* TestApp.serve({ database: Database.Slow("60 millis"), redis: Redis.Slow("30 millis") })
      const round = yield* Effect.fork(app.readiness.refresh)
      yield* TestClock.adjust("60 millis")
      yield* Fiber.join(round)
      const probe = yield* app.ready
      expect(probe.body.status).toBe("ready")
      expect(probe.body.checks.database).toEqual({ status: "up", latencyMs: 60 })
      expect(probe.body.checks.redis).toEqual({ status: "up", latencyMs: 30 })
    }))

  it.scoped("a dependency layer whose construction fails → the app still serves, not ready (not initialised)", () =>
    Effect.gen(function*() {
      const app = yield* firstRound(
        yield* TestApp.serve({ database: Database.FailingConstruction, redis: Redis.FailingConstruction })
      )
      expect((yield* app.request("/healthz")).status).toBe(200)
      const probe = yield* app.ready
      expect(probe.status).toBe(200)
      expect(probe.body.status).toBe("not ready")
      expect(probe.body.checks.database).toMatchObject({ status: "down", error: "not initialised" })
      expect(probe.body.checks.redis).toMatchObject({ status: "down", error: "not initialised" })
    }))

  it.scoped("a check that dies with a defect → not ready (internal error), never a 500", () =>
    Effect.gen(function*() {
      const app = yield* firstRound(yield* TestApp.serve({ database: Database.Test, redis: Redis.Dying }))
      for (let i = 0; i < 3; i++) {
        const probe = yield* app.ready
        expect(probe.status).toBe(200)
        expect(probe.body.status).toBe("not ready")
        expect(probe.body.checks.redis).toMatchObject({ status: "down", error: "internal error" })
        expect(probe.text).not.toMatch(/chaos: a bug|Error|stack/)
      }
      expect((yield* app.request("/healthz")).status).toBe(200)
    }))

  it.scoped("flapping: the report follows every state of the dependency", () =>
    Effect.gen(function*() {
      const databaseState = yield* Ref.make(Chaos.up)
      const redisState = yield* Ref.make(Chaos.up)
      const app = yield* TestApp.serve({
        database: Database.Switchable(databaseState),
        redis: Redis.Switchable(redisState)
      })
      const states = [
        [Chaos.up, Chaos.up],
        [Chaos.down("connection refused"), Chaos.up],
        [Chaos.up, Chaos.up],
        [Chaos.up, Chaos.down("timeout")],
        [Chaos.down("connection reset"), Chaos.down("loading")],
        [Chaos.up, Chaos.up]
      ] as const
      for (let cycle = 0; cycle < 5; cycle++) {
        for (const [database, redis] of states) {
          yield* Ref.set(databaseState, database)
          yield* Ref.set(redisState, redis)
          // On the stopped clock no background round runs: this one reads the states just set.
          yield* app.readiness.refresh
          const probe = yield* app.ready
          expect(probe.body.checks.database).toMatchObject(
            database._tag === "None" ? { status: "up" } : { status: "down", error: database.value }
          )
          expect(probe.body.checks.redis).toMatchObject(
            redis._tag === "None" ? { status: "up" } : { status: "down", error: redis.value }
          )
          expect(probe.body.status).toBe(database._tag === "None" && redis._tag === "None" ? "ready" : "not ready")
        }
      }
    }))
})

describe("chaos: the readiness budget on the test clock", () => {
  // Built in the test's scope, so its background round lives as long as the test.
  const readiness = (database: Layer.Layer<Database>, redis: Layer.Layer<Redis>) =>
    Layer.build(
      Readiness.layer([Dependency.check(Database, database), Dependency.check(Redis, redis)]).pipe(
        Layer.provide([TestApp.settings({ timeout: "500 millis", interval: "1 second" }), Shutdown.layer])
      )
    ).pipe(Effect.map(Context.get(Readiness)))

  /** Up while the switch is up; a check that never answers while it is down. */
  const hangsWhenDown = (state: Ref.Ref<Chaos.Switch>) =>
    Layer.succeed(
      Database,
      Database.of({ ping: Effect.flatMap(Ref.get(state), (s) => s._tag === "None" ? Effect.void : Effect.never) })
    )

  it.scoped("a hanging check is reported timeout exactly at its budget, not a tick later", () =>
    Effect.gen(function*() {
      const service = yield* readiness(Database.Hanging, Redis.Test)
      const round = yield* Effect.fork(service.refresh)
      yield* TestClock.adjust("499 millis")
      expect(round.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      const snapshot = yield* Fiber.join(round)
      expect(snapshot.status).toBe("not ready")
      expect(snapshot.checks.database).toEqual({ status: "down", latencyMs: 500, error: "timeout" })
      expect(snapshot.checks.redis).toMatchObject({ status: "up" })
    }))

  it.scoped("two hanging checks cost one budget, not two: checks run in parallel", () =>
    Effect.gen(function*() {
      const service = yield* readiness(Database.Hanging, Redis.Hanging)
      const round = yield* Effect.fork(service.refresh)
      yield* TestClock.adjust("500 millis")
      const snapshot = yield* Fiber.join(round)
      expect(snapshot.checks.database).toMatchObject({ error: "timeout", latencyMs: 500 })
      expect(snapshot.checks.redis).toMatchObject({ error: "timeout", latencyMs: 500 })
    }))

  it.scoped("a dependency that starts hanging is reported down within interval + budget", () =>
    Effect.gen(function*() {
      const state = yield* Ref.make(Chaos.up)
      const service = yield* readiness(hangsWhenDown(state), Redis.Test)
      yield* TestClock.adjust("1 millis")
      expect((yield* service.current).status).toBe("ready")
      yield* Ref.set(state, Chaos.down("timeout"))
      yield* TestClock.adjust("1500 millis")
      const snapshot = yield* service.current
      expect(snapshot.checks.database).toMatchObject({ status: "down", error: "timeout" })
    }))

  // Invariant: a hung dependency costs probes nothing while its round is on schedule.
  it.scoped("a probe does not wait on a round that hangs on schedule: it reads the last snapshot", () =>
    Effect.gen(function*() {
      const state = yield* Ref.make(Chaos.up)
      const service = yield* readiness(hangsWhenDown(state), Redis.Test)
      yield* TestClock.adjust("1 millis")
      yield* Ref.set(state, Chaos.down("timeout"))
      // The next round starts at 1 s and hangs until its budget runs out at 1.5 s.
      yield* TestClock.adjust("1200 millis")
      const probe = yield* Effect.fork(service.current)
      yield* Effect.yieldNow()
      expect(probe.unsafePoll()).not.toBeNull()
      expect((yield* Fiber.join(probe)).status).toBe("ready")
      yield* TestClock.adjust("300 millis")
      expect((yield* service.current).checks.database).toMatchObject({ status: "down", error: "timeout" })
    }))
})
