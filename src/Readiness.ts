// Readiness: the fold that turns each dependency check into an up/down result under its own budget, and the
// snapshot that probes read, refreshed in the background and on demand so probe traffic never becomes
// dependency traffic.
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Record from "effect/Record"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as AppConfig from "./AppConfig.js"
import { type Check, type CheckFailure, type FailureReason, failureReasons } from "./layers/Dependency.js"
import { Shutdown } from "./Shutdown.js"

export const CheckStatus = Schema.Literal("up", "down")

export const CheckResult = Schema.Struct({
  /** The reported state: what the last round saw, once enough consecutive rounds agree (flap damping). */
  status: CheckStatus,
  latencyMs: Schema.Number,
  /** Why the last round failed, when it did. */
  error: Schema.optional(Schema.Literal(...failureReasons)),
  /** What the last round saw, when damping still holds the reported state back from it. */
  observed: Schema.optional(CheckStatus)
})
export type CheckResult = typeof CheckResult.Type

export const ReadinessStatus = Schema.Literal("ready", "not ready")

/** The result of one round of checks. */
export interface Snapshot {
  readonly status: typeof ReadinessStatus.Type
  /** When the round finished, in epoch milliseconds. */
  readonly checkedAt: number
  readonly checks: Readonly<Record<string, CheckResult>>
  /** What a check that counts judged this round, under its name (`tenants`); absent when no check counts. */
  readonly counts?: Readonly<Record<string, Readonly<Record<string, number>>>>
}

export class CheckTimeout extends Data.TaggedError("CheckTimeout")<{ readonly reason: "timeout" }> {}

export type Checks = Readonly<Record<string, Effect.Effect<void, CheckFailure>>>

const isFailureReason = (reason: unknown): reason is FailureReason => failureReasons.includes(reason as FailureReason)

/** Milliseconds between two `Clock` readings in nanoseconds, to a tenth. */
export const latencyMsBetween = (startNanos: bigint, endNanos: bigint): number =>
  Math.round(Number(endNanos - startNanos) / 100_000) / 10

/** What a failed check reports: down with its typed reason; `undefined` for a defect, which the caller logs. */
export const resultOfFailure = (cause: Cause.Cause<CheckFailure>, latencyMs: number): CheckResult | undefined => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure) && isFailureReason(failure.value.reason)) {
    return { status: "down", latencyMs, error: failure.value.reason }
  }
  return undefined
}

/** The result of a check that failed with a defect, and its log line. */
export const defectResult = (name: string, cause: Cause.Cause<unknown>, latencyMs: number) =>
  Effect.as(
    Effect.logError(`readiness check "${name}" failed with a defect; reported as internal error`).pipe(
      Effect.annotateLogs("cause", Cause.pretty(cause))
    ),
    { status: "down", latencyMs, error: "internal error" } satisfies CheckResult as CheckResult
  )

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
    const latencyMs = latencyMsBetween(start, yield* Clock.currentTimeNanos)
    if (Exit.isSuccess(exit)) return { status: "up", latencyMs } as const
    return resultOfFailure(exit.cause, latencyMs) ?? (yield* defectResult(name, exit.cause, latencyMs))
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
  /** The budget of each check: the one source every dependency layer takes its timeouts from. */
  readonly timeout: Duration.Duration
  /** The background refresh period. */
  readonly interval: Duration.Duration
  /** Consecutive failed rounds before a check is reported down. */
  readonly failureThreshold: number
  /** Consecutive successful rounds before a check is reported up again. */
  readonly successThreshold: number
  /** The HTTP status of a not-ready answer. */
  readonly notReadyStatus: 200 | 503
}>() {
  static readonly Live = Layer.effect(
    ReadinessSettings,
    Config.all({
      timeout: AppConfig.readinessTimeout,
      interval: AppConfig.readinessInterval,
      failureThreshold: AppConfig.failureThreshold,
      successThreshold: AppConfig.successThreshold,
      notReadyStatus: AppConfig.notReadyStatus
    })
  )

  /** Today's behaviour: no damping, not ready answered 200. */
  static readonly make = (
    options:
      & { readonly timeout: Duration.DurationInput; readonly interval: Duration.DurationInput }
      & Partial<
        { readonly failureThreshold: number; readonly successThreshold: number; readonly notReadyStatus: 200 | 503 }
      >
  ): Layer.Layer<ReadinessSettings> =>
    Layer.succeed(ReadinessSettings, {
      timeout: Duration.decode(options.timeout),
      interval: Duration.decode(options.interval),
      failureThreshold: options.failureThreshold ?? 1,
      successThreshold: options.successThreshold ?? 1,
      notReadyStatus: options.notReadyStatus ?? 200
    })
}

/**
 * Flap damping: the reported state of a check changes only after `threshold` consecutive rounds saw the other
 * state. Returns the damped result and the streak to carry into the next round.
 */
export const damp = (
  previous: { readonly reported: CheckStatus; readonly streak: number } | undefined,
  observed: CheckResult,
  thresholds: { readonly failureThreshold: number; readonly successThreshold: number }
): { readonly result: CheckResult; readonly reported: CheckStatus; readonly streak: number } => {
  if (previous === undefined || previous.reported === observed.status) {
    return { result: observed, reported: observed.status, streak: 0 }
  }
  const streak = previous.streak + 1
  const needed = observed.status === "down" ? thresholds.failureThreshold : thresholds.successThreshold
  if (streak >= needed) return { result: observed, reported: observed.status, streak: 0 }
  return {
    result: { ...observed, status: previous.reported, observed: observed.status },
    reported: previous.reported,
    streak
  }
}
type CheckStatus = typeof CheckStatus.Type

const shuttingDownResult: CheckResult = { status: "down", latencyMs: 0, error: "shutting down" }

const logChanges = (previous: Snapshot | undefined, next: Snapshot) =>
  Effect.forEach(Object.entries(next.checks), ([name, result]) => {
    const before = previous?.checks[name]
    if (
      before !== undefined && before.status === result.status &&
      (result.status === "up" || before.error === result.error)
    ) return Effect.void
    return result.status === "up"
      ? Effect.logInfo(`${name} is up`)
      : Effect.logWarning(`${name} is down: ${result.error}`)
  }, { discard: true })

/** One finished round, as the metrics and the SLA report observe it. */
export interface Round {
  /** When the round started and finished, in epoch milliseconds. */
  readonly startedAt: number
  readonly finishedAt: number
  /** What each check returned in this round, with its latency. */
  readonly results: Readonly<Record<string, CheckResult>>
  /** The snapshot probes read once this round finished. */
  readonly reported: Snapshot
}

export interface ReadinessService {
  /** The names of the checks, in report order. */
  readonly names: ReadonlyArray<string>
  /** The latest snapshot, refreshed first (joining any round in flight) only when it is overdue. */
  readonly current: Effect.Effect<Snapshot>
  /** Runs a round now, or joins the one in flight. */
  readonly refresh: Effect.Effect<Snapshot>
  /** The latest snapshot unless it is overdue at `nowMillis`, read synchronously by the probe fast path. */
  readonly unsafeFresh: (nowMillis: number) => Snapshot | undefined
  /** `refresh` as one promise shared by every caller while the round runs, for the probe fast path. */
  readonly unsafeRefresh: () => Promise<Snapshot>
  /**
   * Every round from the latest finished one on: a subscriber first sees the last round that finished before it
   * subscribed (if any), then each new one. A subscriber that falls behind loses the oldest rounds; it never slows
   * the rounds down.
   */
  readonly rounds: Stream.Stream<Round>
}

/** The checks of an app's dependencies, each built by `Dependency.check`. */
export type Dependencies = ReadonlyArray<Effect.Effect<Check, unknown, unknown>>

const make = <D extends Dependencies>(
  dependencies: D
): Effect.Effect<
  ReadinessService,
  Effect.Effect.Error<D[number]>,
  Effect.Effect.Context<D[number]> | ReadinessSettings | Shutdown | Scope.Scope
> =>
  Effect.gen(function*() {
    const settings = yield* ReadinessSettings
    const shutdown = yield* Shutdown
    const built = yield* Effect.all(
      dependencies as ReadonlyArray<
        Effect.Effect<Check, Effect.Effect.Error<D[number]>, Effect.Effect.Context<D[number]>>
      >
    )
    const checks: Checks = Object.fromEntries(built.map((check) => [check.name, check.ping] as const))
    const counters = built.flatMap((check) => check.counts === undefined ? [] : [[check.name, check.counts] as const])
    const counted = (): Pick<Snapshot, "counts"> =>
      counters.length === 0 ? {} : { counts: Object.fromEntries(counters.map(([name, counts]) => [name, counts()])) }
    const intervalMillis = Duration.toMillis(settings.interval)
    // A round starts when the snapshot reaches the interval's age and takes at most the budget, so a snapshot is
    // overdue only past interval + budget. Before that, probes read it without waiting, even while a round hangs
    // on a dead dependency; past it (the background round fell behind), a probe refreshes it first.
    const overdueAfterMillis = intervalMillis + Duration.toMillis(settings.timeout)

    // Until the first round finishes, every check reads `not initialised`: readiness fails closed.
    let latest: Snapshot = {
      status: "not ready",
      checkedAt: yield* Clock.currentTimeMillis,
      checks: Record.map(checks, () => ({ status: "down", latencyMs: 0, error: "not initialised" }) as const),
      ...counted()
    }
    let published = false
    const damping = new Map<string, { readonly reported: CheckStatus; readonly streak: number }>()

    const finished = yield* PubSub.sliding<Round>({ capacity: 64, replay: 1 })
    const runRound = Effect.gen(function*() {
      if (shutdown.isShuttingDown()) return latest
      const startedAt = yield* Clock.currentTimeMillis
      const observed = yield* runChecks(checks, settings.timeout)
      // A round that ends after shutdown began must not bring `ready` back.
      if (shutdown.isShuttingDown()) return latest
      const results = Record.map(observed.checks, (result, name) => {
        const damped = damp(damping.get(name), result, settings)
        damping.set(name, { reported: damped.reported, streak: damped.streak })
        return damped.result
      })
      const ready = Object.values(results).every((result) => result.status === "up")
      const snapshot: Snapshot = {
        status: ready ? "ready" : "not ready",
        checkedAt: observed.checkedAt,
        checks: results,
        ...counted()
      }
      yield* logChanges(published ? latest : undefined, snapshot)
      latest = snapshot
      published = true
      yield* PubSub.publish(finished, {
        startedAt,
        finishedAt: observed.checkedAt,
        results: observed.checks,
        reported: snapshot
      })
      return snapshot
    })

    // From the moment shutdown begins, every check reads `shutting down`, and no round changes that.
    const clock = yield* Effect.clock
    shutdown.onBegin(() => {
      latest = {
        status: "not ready",
        checkedAt: latest.checkedAt,
        checks: Record.map(checks, () => shuttingDownResult),
        ...(latest.counts === undefined ? {} : { counts: latest.counts })
      }
      // Observers see the service reported down from here, though no check ran.
      const now = clock.unsafeCurrentTimeMillis()
      finished.unsafeOffer({ startedAt: now, finishedAt: now, results: {}, reported: latest })
    })

    // Single flight: the round in flight is a fiber in the service's scope, joined by every caller that arrives
    // before it ends, so a probe that gives up (its client went away) does not cancel it for the others. The
    // fast path joins it through one promise made for that round.
    const runtime = yield* Effect.runtime<never>()
    const forkRound = yield* FiberSet.makeRuntime<never, Snapshot>()
    let inFlight: { readonly round: Fiber.RuntimeFiber<Snapshot>; promise?: Promise<Snapshot> } | undefined
    const roundInFlight = () => {
      if (inFlight === undefined || inFlight.round.unsafePoll() !== null) inFlight = { round: forkRound(runRound) }
      return inFlight
    }
    const refresh = Effect.suspend(() => Fiber.join(roundInFlight().round))
    const unsafeRefresh = () => {
      const current = roundInFlight()
      return current.promise ??= Runtime.runPromise(runtime, Fiber.join(current.round))
    }

    const unsafeFresh = (nowMillis: number): Snapshot | undefined =>
      nowMillis - latest.checkedAt <= overdueAfterMillis || shutdown.isShuttingDown() ? latest : undefined

    const current: Effect.Effect<Snapshot> = Effect.flatMap(
      Clock.currentTimeMillis,
      (now) => {
        const snapshot = unsafeFresh(now)
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
      // loop would leave probes reading an ever older snapshot. A round interrupted because the service is
      // stopping is not a failure.
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause) ? Effect.void : Effect.logError("readiness round failed", cause)
      ),
      // Once shutdown begins the report is fixed, and the loop ends.
      Effect.repeat({ until: () => shutdown.isShuttingDown() }),
      Effect.forkScoped
    )

    return {
      names: Object.keys(checks),
      current,
      refresh,
      unsafeFresh,
      unsafeRefresh,
      rounds: Stream.fromPubSub(finished)
    }
  })

export class Readiness extends Context.Tag("dashboard/Readiness")<Readiness, ReadinessService>() {
  /**
   * Readiness over a named set of checks, one per dependency (see `Dependency.check`): each dependency's layer is
   * built in this layer's scope, and the checks are folded in the order given.
   */
  static readonly layer = <D extends Dependencies>(
    dependencies: D
  ): Layer.Layer<
    Readiness,
    Effect.Effect.Error<D[number]>,
    Exclude<Effect.Effect.Context<D[number]>, Scope.Scope> | ReadinessSettings | Shutdown
  > => Layer.scoped(Readiness, make(dependencies))
}
