// Readiness: the fold that turns each dependency check into an up/down result under its own budget, and the
// snapshot that probes read, refreshed in the background and on demand so probe traffic never becomes
// dependency traffic.
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Record from "effect/Record"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import * as SynchronizedRef from "effect/SynchronizedRef"
import * as AppConfig from "./AppConfig.js"
import { Database } from "./layers/Database.js"
import { type CheckFailure, type FailureReason, failureReasons } from "./layers/Dependency.js"
import { Redis } from "./layers/Redis.js"

export const CheckResult = Schema.Struct({
  status: Schema.Literal("up", "down"),
  latencyMs: Schema.Number,
  error: Schema.optional(Schema.Literal(...failureReasons))
})
export type CheckResult = typeof CheckResult.Type

export const ReadinessStatus = Schema.Literal("ready", "not ready")

/** The result of one round of checks. */
export interface Snapshot {
  readonly status: typeof ReadinessStatus.Type
  /** When the round finished, in epoch milliseconds. */
  readonly checkedAt: number
  readonly checks: Readonly<Record<string, CheckResult>>
}

export class CheckTimeout extends Data.TaggedError("CheckTimeout")<{ readonly reason: "timeout" }> {}

export type Checks = Readonly<Record<string, Effect.Effect<void, CheckFailure>>>

const isFailureReason = (reason: unknown): reason is FailureReason => failureReasons.includes(reason as FailureReason)

const latencySince = (startNanos: bigint) =>
  Effect.map(Clock.currentTimeNanos, (now) => Math.round(Number(now - startNanos) / 100_000) / 10)

/**
 * Runs one check under its budget and never fails: a typed failure becomes its reason, a check past its budget
 * becomes `timeout` (the check is detached first, so a driver that ignores interruption cannot hold the caller
 * past the budget), and a defect becomes `internal error` with a log line.
 */
export const runCheck = (
  name: string,
  check: Effect.Effect<void, CheckFailure>,
  budget: Duration.DurationInput
): Effect.Effect<CheckResult> =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeNanos
    const exit = yield* check.pipe(
      Effect.disconnect,
      Effect.timeoutFail({ duration: budget, onTimeout: () => new CheckTimeout({ reason: "timeout" }) }),
      Effect.exit
    )
    const latencyMs = yield* latencySince(start)
    if (exit._tag === "Success") return { status: "up", latencyMs } as const
    const failure = Cause.failureOption(exit.cause)
    if (Option.isSome(failure) && isFailureReason(failure.value.reason)) {
      return { status: "down", latencyMs, error: failure.value.reason } as const
    }
    yield* Effect.logError(`readiness check "${name}" failed with a defect; reported as internal error`).pipe(
      Effect.annotateLogs("cause", Cause.pretty(exit.cause))
    )
    return { status: "down", latencyMs, error: "internal error" } as const
  })

/** Runs every check in parallel, each under the same budget; the round as a whole cannot fail. */
export const runChecks = (checks: Checks, budget: Duration.DurationInput): Effect.Effect<Snapshot> =>
  Effect.gen(function*() {
    const results = yield* Effect.all(
      Record.map(checks, (check, name) => runCheck(name, check, budget)),
      { concurrency: "unbounded" }
    )
    const checkedAt = yield* Clock.currentTimeMillis
    const ready = Object.values(results).every((result) => result.status === "up")
    return { status: ready ? "ready" : "not ready", checkedAt, checks: results }
  })

export class ReadinessSettings extends Context.Tag("dashboard/ReadinessSettings")<ReadinessSettings, {
  /** The budget of each check. */
  readonly timeout: Duration.Duration
  /** The background refresh period. */
  readonly interval: Duration.Duration
}>() {
  static readonly Live = Layer.effect(
    ReadinessSettings,
    Config.all({ timeout: AppConfig.readinessTimeout, interval: AppConfig.readinessInterval })
  )
}

const logChanges = (previous: Snapshot | undefined, next: Snapshot) =>
  Effect.forEach(Object.entries(next.checks), ([name, result]) => {
    const before = previous?.checks[name]
    if (before !== undefined && before.status === result.status && before.error === result.error) return Effect.void
    return result.status === "up"
      ? Effect.logInfo(`${name} is up`)
      : Effect.logWarning(`${name} is down: ${result.error}`)
  }, { discard: true })

export class Readiness extends Effect.Service<Readiness>()("dashboard/Readiness", {
  scoped: Effect.gen(function*() {
    const database = yield* Database
    const redis = yield* Redis
    const settings = yield* ReadinessSettings
    const checks: Checks = { database: database.ping, redis: redis.ping }
    const intervalMillis = Duration.toMillis(settings.interval)
    // A round starts when the snapshot reaches the interval's age and takes at most the budget, so a snapshot is
    // overdue only past interval + budget. Before that, probes read it without waiting, even while a round hangs
    // on a dead dependency; past it (the background round fell behind), a probe refreshes it first.
    const overdueAfterMillis = intervalMillis + Duration.toMillis(settings.timeout)

    // Until the first round finishes, every check reads `not initialised`: readiness fails closed.
    let latest: Snapshot = {
      status: "not ready",
      checkedAt: yield* Clock.currentTimeMillis,
      checks: Record.map(checks, () => ({ status: "down", latencyMs: 0, error: "not initialised" }) as const)
    }
    let published = false
    const inFlight = yield* SynchronizedRef.make(Option.none<Deferred.Deferred<Snapshot>>())
    const scope = yield* Effect.scope

    const runRound = Effect.gen(function*() {
      const snapshot = yield* runChecks(checks, settings.timeout)
      yield* logChanges(published ? latest : undefined, snapshot)
      latest = snapshot
      published = true
      return snapshot
    })

    // Single flight: callers that arrive while a round runs share it. The round runs in the service's scope,
    // so a probe that gives up (its client went away) does not cancel it for the others.
    const refresh: Effect.Effect<Snapshot> = SynchronizedRef.modifyEffect(inFlight, (current) =>
      Option.match(current, {
        onSome: (round) => Effect.succeed([Deferred.await(round), current] as const),
        onNone: () =>
          Effect.gen(function*() {
            const round = yield* Deferred.make<Snapshot>()
            yield* runRound.pipe(
              Effect.intoDeferred(round),
              Effect.ensuring(SynchronizedRef.set(inFlight, Option.none())),
              Effect.forkIn(scope)
            )
            return [Deferred.await(round), Option.some(round)] as const
          })
      })).pipe(Effect.flatten)

    const fresh = (nowMillis: number): Snapshot | undefined =>
      nowMillis - latest.checkedAt <= overdueAfterMillis ? latest : undefined

    const runtime = yield* Effect.runtime<never>()
    let pendingRefresh: Promise<Snapshot> | undefined
    const refreshPromise = (): Promise<Snapshot> => {
      if (pendingRefresh === undefined) {
        pendingRefresh = Runtime.runPromise(runtime, refresh).finally(() => {
          pendingRefresh = undefined
        })
      }
      return pendingRefresh
    }

    const current: Effect.Effect<Snapshot> = Effect.flatMap(
      Clock.currentTimeMillis,
      (now) => {
        const snapshot = fresh(now)
        return snapshot === undefined ? refresh : Effect.succeed(snapshot)
      }
    )

    // The background round runs once the snapshot reaches the interval's age, whoever refreshed it last.
    const age = Effect.map(Clock.currentTimeMillis, (now) => now - latest.checkedAt)
    yield* Effect.gen(function*() {
      if (!published || (yield* age) >= intervalMillis) yield* refresh
      yield* Effect.sleep(Duration.millis(Math.max(1, intervalMillis - (yield* age))))
    }).pipe(
      // The fold cannot fail; should a bug break a round anyway, the loop logs it and goes on, because a stopped
      // loop would leave probes reading an ever older snapshot.
      // A round interrupted because the service is stopping is not a failure.
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause) ? Effect.void : Effect.logError("readiness round failed", cause)
      ),
      Effect.forever,
      Effect.forkScoped
    )

    return {
      /** The latest snapshot, refreshed first (joining any round in flight) only when it is overdue. */
      current,
      /** Runs a round now, or joins the one in flight. */
      refresh,
      /** The latest snapshot unless it is overdue at `nowMillis`, read synchronously by the probe fast path. */
      unsafeFresh: fresh,
      /** `refresh` as one promise shared by every caller while the round runs, for the probe fast path. */
      unsafeRefresh: refreshPromise
    } as const
  })
}) {}
