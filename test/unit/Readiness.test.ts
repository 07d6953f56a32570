import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { Database, DatabaseUnavailable } from "../../src/layers/Database.js"
import type { Check } from "../../src/layers/Dependency.js"
import * as Dependency from "../../src/layers/Dependency.js"
import { Redis } from "../../src/layers/Redis.js"
import { Readiness, runCheck, runChecks } from "../../src/Readiness.js"
import { Shutdown } from "../../src/Shutdown.js"
import * as TestApp from "../support/TestApp.js"

describe("the readiness fold", () => {
  it.effect("a check that succeeds is up, with its latency", () =>
    Effect.gen(function*() {
      const result = yield* Effect.fork(runCheck("slow", Effect.sleep("30 millis"), "500 millis"))
      yield* TestClock.adjust("30 millis")
      expect(yield* Fiber.join(result)).toEqual({ status: "up", latencyMs: 30 })
    }))

  it.effect("a typed failure is down with the failure's reason", () =>
    Effect.gen(function*() {
      const result = yield* runCheck("db", new DatabaseUnavailable({ reason: "authentication failed" }), "1 second")
      expect(result).toEqual({ status: "down", latencyMs: 0, error: "authentication failed" })
    }))

  it.effect("a defect is down with internal error, and the fold itself does not fail", () =>
    Effect.gen(function*() {
      const result = yield* runCheck("db", Effect.die(new Error("boom")), "1 second")
      expect(result).toEqual({ status: "down", latencyMs: 0, error: "internal error" })
    }))

  it.effect("a failure whose reason is not a known category is reported as internal error", () =>
    Effect.gen(function*() {
      const bogus = Effect.fail({ reason: "password is hunter2" } as never)
      expect((yield* runCheck("db", bogus, "1 second")).error).toBe("internal error")
    }))

  it.effect("an interrupted check is reported down, not propagated", () =>
    Effect.gen(function*() {
      expect((yield* runCheck("db", Effect.interrupt, "1 second")).status).toBe("down")
    }))

  it.effect("a check past its budget is timeout at the budget, even when it ignores interruption", () =>
    Effect.gen(function*() {
      const round = yield* Effect.fork(runCheck("db", Effect.never.pipe(Effect.uninterruptible), "250 millis"))
      yield* TestClock.adjust("250 millis")
      expect(yield* Fiber.join(round)).toEqual({ status: "down", latencyMs: 250, error: "timeout" })
    }))

  it.effect("ready only when every check is up; the round reports each check by name", () =>
    Effect.gen(function*() {
      const ready = yield* runChecks({ a: Effect.void, b: Effect.void }, "1 second")
      expect(ready.status).toBe("ready")
      const notReady = yield* runChecks(
        { a: Effect.void, b: new DatabaseUnavailable({ reason: "connection refused" }) },
        "1 second"
      )
      expect(notReady.status).toBe("not ready")
      expect(notReady.checks).toEqual({
        a: { status: "up", latencyMs: 0 },
        b: { status: "down", latencyMs: 0, error: "connection refused" }
      })
    }))

  it.effect("no checks at all is ready (vacuously) rather than a crash", () =>
    Effect.gen(function*() {
      expect((yield* runChecks({}, "1 second")).status).toBe("ready")
    }))
})

describe("the readiness snapshot", () => {
  const counting = (count: Ref.Ref<number>, delay: Duration.DurationInput) =>
    Layer.succeed(
      Database,
      Database.of({ ping: Effect.zipRight(Ref.update(count, (n) => n + 1), Effect.sleep(delay)) })
    )

  const build = (database: Layer.Layer<Database>, interval: Duration.DurationInput = "1 second") =>
    Layer.build(
      Readiness.layer([Dependency.check(Database, database), Dependency.check(Redis, Redis.Test)]).pipe(
        Layer.provide([TestApp.settings({ timeout: "500 millis", interval }), Shutdown.layer])
      )
    ).pipe(Effect.map(Context.get(Readiness)))

  it.scoped("before the first round finishes the report fails closed: not ready, not initialised", () =>
    Effect.gen(function*() {
      const readiness = yield* build(Database.Slow("100 millis"))
      const snapshot = yield* readiness.current
      expect(snapshot.status).toBe("not ready")
      expect(snapshot.checks.database).toMatchObject({ status: "down", error: "not initialised" })
      expect(snapshot.checks.redis).toMatchObject({ status: "down", error: "not initialised" })
      yield* TestClock.adjust("100 millis")
      expect((yield* readiness.current).status).toBe("ready")
    }))

  it.scoped("concurrent refreshes share one round per dependency (single flight)", () =>
    Effect.gen(function*() {
      const count = yield* Ref.make(0)
      const readiness = yield* build(counting(count, "50 millis"))
      const probes = yield* Effect.fork(Effect.all(Array.from({ length: 100 }, () => readiness.refresh), {
        concurrency: "unbounded"
      }))
      yield* TestClock.adjust("50 millis")
      const snapshots = yield* Fiber.join(probes)
      expect(new Set(snapshots).size).toBe(1)
      expect(yield* Ref.get(count)).toBe(1)
    }))

  it.scoped("probes read the snapshot: many probes within the interval cause no check at all", () =>
    Effect.gen(function*() {
      const count = yield* Ref.make(0)
      const readiness = yield* build(counting(count, "0 millis"))
      yield* TestClock.adjust("1 millis")
      expect(yield* Ref.get(count)).toBe(1)
      yield* Effect.all(Array.from({ length: 1000 }, () => readiness.current), { concurrency: "unbounded" })
      expect(yield* Ref.get(count)).toBe(1)
    }))

  it.scoped("the background refresh runs once per interval", () =>
    Effect.gen(function*() {
      const count = yield* Ref.make(0)
      yield* build(counting(count, "0 millis"))
      yield* TestClock.adjust("1 millis")
      for (let second = 1; second <= 10; second++) {
        yield* TestClock.adjust("1 second")
        expect(yield* Ref.get(count)).toBe(second + 1)
      }
    }))

  it.scoped("a snapshot is served as is until interval + budget, the latest a scheduled round can finish", () =>
    Effect.gen(function*() {
      const readiness = yield* build(Database.Test, "1 second")
      yield* TestClock.adjust("1 millis")
      const snapshot = yield* readiness.current
      expect(readiness.unsafeFresh(snapshot.checkedAt + 1500)).toBe(snapshot)
      // Overdue: the background round fell behind, and a probe must refresh before it answers.
      expect(readiness.unsafeFresh(snapshot.checkedAt + 1501)).toBeUndefined()
    }))

  it.scoped("the fast path's refresh is one promise shared by every waiting probe", () =>
    Effect.gen(function*() {
      const count = yield* Ref.make(0)
      const readiness = yield* build(counting(count, "0 millis"))
      yield* TestClock.adjust("1 millis")
      const before = yield* Ref.get(count)
      const promises = Array.from({ length: 100 }, () => readiness.unsafeRefresh())
      expect(new Set(promises).size).toBe(1)
      const snapshots = yield* Effect.promise(() => Promise.all(promises))
      expect(new Set(snapshots).size).toBe(1)
      expect(yield* Ref.get(count)).toBe(before + 1)
    }))

  it.effect("stopping the service while a round runs logs no error", () => {
    const errors: Array<unknown> = []
    const capture = Logger.make(({ logLevel, message }) => {
      if (LogLevel.greaterThanEqual(logLevel, LogLevel.Error)) errors.push(message)
    })
    return Effect.gen(function*() {
      const scope = yield* Scope.make()
      yield* Scope.extend(build(Database.Slow("100 millis")), scope)
      yield* TestClock.adjust("10 millis")
      yield* Scope.close(scope, Exit.void)
      yield* TestClock.adjust("1 second")
      expect(errors).toEqual([])
    }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, capture)))
  })

  it.scoped("once shutdown begins every check reads shutting down, and no round brings ready back", () =>
    Effect.gen(function*() {
      const count = yield* Ref.make(0)
      const context = yield* Layer.build(
        Readiness.layer([
          Dependency.check(Database, counting(count, "100 millis")),
          Dependency.check(Redis, Redis.Test)
        ]).pipe(
          Layer.provideMerge(
            Layer.merge(TestApp.settings({ timeout: "500 millis", interval: "1 second" }), Shutdown.layer)
          )
        )
      )
      const readiness = Context.get(context, Readiness)
      // A round is in flight when shutdown begins; its result must not replace the shutting-down report.
      yield* TestClock.adjust("50 millis")
      yield* Context.get(context, Shutdown).begin
      const report = yield* readiness.current
      expect(report.status).toBe("not ready")
      expect(report.checks).toEqual({
        database: { status: "down", latencyMs: 0, error: "shutting down" },
        redis: { status: "down", latencyMs: 0, error: "shutting down" }
      })
      yield* TestClock.adjust("10 seconds")
      expect(yield* readiness.refresh).toEqual(report)
      expect(readiness.unsafeFresh(Number.MAX_SAFE_INTEGER)).toEqual(report)
      expect(yield* Ref.get(count)).toBe(1)
    }))

  it.scoped("counts are in a snapshot only when a check has them, and a shutting-down report keeps them", () =>
    Effect.gen(function*() {
      const counted: Check = { name: "tenants", ping: Effect.void, counts: () => ({ up: 2, down: 1 }) }
      const withChecks = (checks: ReadonlyArray<Effect.Effect<Check, never, Scope.Scope>>) =>
        Effect.map(
          Layer.build(
            Readiness.layer(checks).pipe(
              Layer.provideMerge(
                Layer.merge(TestApp.settings({ timeout: "500 millis", interval: "1 second" }), Shutdown.layer)
              )
            )
          ),
          (context) => ({ readiness: Context.get(context, Readiness), shutdown: Context.get(context, Shutdown) })
        )

      const plain = yield* withChecks([Dependency.check(Database, Database.Test)])
      expect("counts" in (yield* plain.readiness.current)).toBe(false)
      expect("counts" in (yield* plain.readiness.refresh)).toBe(false)
      yield* plain.shutdown.begin
      expect("counts" in (yield* plain.readiness.current)).toBe(false)

      const withCounts = yield* withChecks([Dependency.check(Database, Database.Test), Effect.succeed(counted)])
      expect((yield* withCounts.readiness.current).counts).toEqual({ tenants: { up: 2, down: 1 } })
      expect((yield* withCounts.readiness.refresh).counts).toEqual({ tenants: { up: 2, down: 1 } })
      yield* withCounts.shutdown.begin
      expect((yield* withCounts.readiness.current).counts).toEqual({ tenants: { up: 2, down: 1 } })
    }))

  it.scoped("a subscriber that comes after a round is handed that round first, then each new one", () =>
    Effect.gen(function*() {
      const readiness = yield* build(Database.Test)
      const first = yield* readiness.refresh
      yield* TestClock.adjust("1 second")
      const second = yield* readiness.refresh
      expect(second.checkedAt).toBeGreaterThan(first.checkedAt)
      const rounds = yield* readiness.rounds.pipe(Stream.take(2), Stream.runCollect, Effect.fork)
      yield* TestClock.adjust("1 second")
      const seen = Chunk.toReadonlyArray(yield* Fiber.join(rounds)).map((round) => round.reported.checkedAt)
      expect(seen[0]).toBe(second.checkedAt)
      expect(seen[1]).toBeGreaterThan(second.checkedAt)
    }))
})
