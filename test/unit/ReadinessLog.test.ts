// The fold's exact numbers and words: latencies to a tenth of a millisecond, the log lines of state changes, the
// settings' defaults.
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Ref from "effect/Ref"
import * as TestClock from "effect/TestClock"
import * as Chaos from "../../src/layers/Chaos.js"
import { Database, DatabaseUnavailable } from "../../src/layers/Database.js"
import * as Dependency from "../../src/layers/Dependency.js"
import { Redis } from "../../src/layers/Redis.js"
import { Readiness, ReadinessSettings, runCheck } from "../../src/Readiness.js"
import { Shutdown } from "../../src/Shutdown.js"
import * as TestApp from "../support/TestApp.js"

interface Line {
  readonly level: string
  readonly message: string
  readonly annotations: Record<string, unknown>
}

const capture = (lines: Array<Line>) =>
  Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ annotations, logLevel, message }) =>
      lines.push({
        level: logLevel.label,
        message: String(Array.isArray(message) ? message[0] : message),
        annotations: Object.fromEntries(annotations)
      })
    )
  )

describe("latency", () => {
  it.effect.each<[bigint, number]>([
    [1_250_000n, 1.3],
    [1_249_000n, 1.2],
    [30_000_000n, 30],
    [0n, 0],
    [99_999n, 0.1],
    [49_999n, 0]
  ])("a check of %i ns, started late in the clock's life, reports %d ms", ([nanos, millis]) =>
    Effect.gen(function*() {
      yield* TestClock.adjust("1 hour")
      const result = yield* Effect.fork(runCheck("x", Effect.sleep(Duration.nanos(nanos)), "1 second"))
      yield* TestClock.adjust(Duration.nanos(nanos))
      expect(yield* Fiber.join(result)).toEqual({ status: "up", latencyMs: millis })
    }))

  it.effect("a failed check reports its latency too, and a timed-out one its budget", () =>
    Effect.gen(function*() {
      yield* TestClock.adjust("1 hour")
      const failing = Effect.zipRight(
        Effect.sleep("40 millis"),
        new DatabaseUnavailable({ reason: "connection reset" })
      )
      const failed = yield* Effect.fork(runCheck("x", failing, "1 second"))
      yield* TestClock.adjust("40 millis")
      expect(yield* Fiber.join(failed)).toEqual({ status: "down", latencyMs: 40, error: "connection reset" })
      const hung = yield* Effect.fork(runCheck("x", Effect.never, "75 millis"))
      yield* TestClock.adjust("75 millis")
      expect(yield* Fiber.join(hung)).toEqual({ status: "down", latencyMs: 75, error: "timeout" })
    }))
})

describe("what the fold logs", () => {
  it.effect("a defect: one error line naming the check, with the cause, reported as internal error", () => {
    const lines: Array<Line> = []
    return Effect.gen(function*() {
      const result = yield* runCheck("redis", Effect.die(new Error("kaboom")), "1 second")
      expect(result.error).toBe("internal error")
      expect(lines).toHaveLength(1)
      expect(lines[0]!.level).toBe("ERROR")
      expect(lines[0]!.message).toBe("readiness check \"redis\" failed with a defect; reported as internal error")
      expect(String(lines[0]!.annotations.cause)).toContain("kaboom")
    }).pipe(Effect.provide(capture(lines)))
  })

  it.effect("a typed failure and a timeout log nothing", () => {
    const lines: Array<Line> = []
    return Effect.gen(function*() {
      yield* runCheck("redis", new DatabaseUnavailable({ reason: "timeout" }), "1 second")
      const hung = yield* Effect.fork(runCheck("redis", Effect.never, "10 millis"))
      yield* TestClock.adjust("10 millis")
      yield* Fiber.join(hung)
      expect(lines).toEqual([])
    }).pipe(Effect.provide(capture(lines)))
  })

  it.scoped("each change of state is logged once: up at info, down with its reason at warning", () => {
    const lines: Array<Line> = []
    return Effect.gen(function*() {
      const database = yield* Ref.make(Chaos.up)
      const redis = yield* Ref.make(Chaos.down("connection refused"))
      const readiness = Context.get(
        yield* Layer.build(
          Readiness.layer([
            Dependency.check(Database, Database.Switchable(database)),
            Dependency.check(Redis, Redis.Switchable(redis))
          ]).pipe(Layer.provide([TestApp.settings({ interval: "1 hour" }), Shutdown.layer]))
        ),
        Readiness
      )
      const round = (expected: ReadonlyArray<string>) =>
        Effect.gen(function*() {
          lines.length = 0
          yield* readiness.refresh
          expect(lines.map((line) => `${line.level} ${line.message}`)).toEqual(expected)
        })
      yield* round(["INFO database is up", "WARN redis is down: connection refused"])
      yield* round([])
      yield* Ref.set(redis, Chaos.down("timeout"))
      yield* round(["WARN redis is down: timeout"])
      yield* round([])
      yield* Ref.set(redis, Chaos.up)
      yield* round(["INFO redis is up"])
      yield* round([])
      yield* Ref.set(database, Chaos.down("loading"))
      yield* round(["WARN database is down: loading"])
      yield* Ref.set(database, Chaos.up)
      yield* Ref.set(redis, Chaos.down("loading"))
      yield* round(["INFO database is up", "WARN redis is down: loading"])
    }).pipe(Effect.provide(capture(lines)))
  })

  it.scoped("the names are reported in the order the dependencies are given", () =>
    Effect.gen(function*() {
      const readiness = Context.get(
        yield* Layer.build(
          Readiness.layer([Dependency.check(Redis, Redis.Test), Dependency.check(Database, Database.Test)]).pipe(
            Layer.provide([TestApp.settings(), Shutdown.layer])
          )
        ),
        Readiness
      )
      expect(readiness.names).toEqual(["redis", "database"])
      expect(Object.keys((yield* readiness.refresh).checks)).toEqual(["redis", "database"])
    }))
})

describe("the readiness settings", () => {
  it.effect("make: no damping and not ready answered 200 unless asked", () =>
    Effect.gen(function*() {
      const settings = yield* Effect.provide(
        ReadinessSettings,
        ReadinessSettings.make({ timeout: "250 millis", interval: "2 seconds" })
      )
      expect(settings).toEqual({
        timeout: Duration.millis(250),
        interval: Duration.seconds(2),
        failureThreshold: 1,
        successThreshold: 1,
        notReadyStatus: 200
      })
      const asked = yield* Effect.provide(
        ReadinessSettings,
        ReadinessSettings.make({
          timeout: "1 second",
          interval: "1 second",
          failureThreshold: 3,
          successThreshold: 2,
          notReadyStatus: 503
        })
      )
      expect([asked.failureThreshold, asked.successThreshold, asked.notReadyStatus]).toEqual([3, 2, 503])
    }))

  it.effect("Live reads each setting from its variable", () =>
    Effect.gen(function*() {
      const settings = yield* Effect.provide(ReadinessSettings, ReadinessSettings.Live).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(
          new Map([
            ["READINESS_TIMEOUT_MS", "300"],
            ["READINESS_INTERVAL_MS", "700"],
            ["READINESS_FAILURE_THRESHOLD", "4"],
            ["READINESS_SUCCESS_THRESHOLD", "5"],
            ["READYZ_NOT_READY_STATUS", "503"]
          ])
        ))
      )
      expect(settings).toEqual({
        timeout: Duration.millis(300),
        interval: Duration.millis(700),
        failureThreshold: 4,
        successThreshold: 5,
        notReadyStatus: 503
      })
    }))
})

describe("the background round's schedule", () => {
  it.scoped("the next round is due one interval after the latest snapshot, whoever refreshed it; none after shutdown", () =>
    Effect.gen(function*() {
      const count = yield* Ref.make(0)
      const counting = Layer.succeed(Database, Database.of({ ping: Ref.update(count, (n) => n + 1) }))
      const context = yield* Layer.build(
        Readiness.layer([Dependency.check(Database, counting)]).pipe(
          Layer.provideMerge(Layer.merge(TestApp.settings({ interval: "1 second", timeout: "1 hour" }), Shutdown.layer))
        )
      )
      const readiness = Context.get(context, Readiness)
      // The checks' budget timers sit an hour out; what is left is the loop's own sleep.
      const loopSleeps = Effect.map(TestClock.sleeps(), (sleeps) => [...sleeps].filter((at) => at < 3_600_000))
      yield* TestClock.adjust("0 millis")
      expect(yield* Ref.get(count)).toBe(1)
      expect(yield* loopSleeps).toEqual([1_000])
      // A probe refreshes at 400 ms: the background round moves to 1,400 ms.
      yield* TestClock.adjust("400 millis")
      yield* readiness.refresh
      expect(yield* Ref.get(count)).toBe(2)
      yield* TestClock.adjust("600 millis")
      expect(yield* Ref.get(count)).toBe(2)
      expect(yield* loopSleeps).toEqual([1_400])
      yield* TestClock.adjust("400 millis")
      expect(yield* Ref.get(count)).toBe(3)
      expect(yield* loopSleeps).toEqual([2_400])
      yield* Context.get(context, Shutdown).begin
      yield* TestClock.adjust("1 second")
      expect(yield* loopSleeps).toEqual([])
      expect(yield* Ref.get(count)).toBe(3)
    }))
})
