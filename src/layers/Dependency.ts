// What the dependency layers share: the failure categories a readiness report may show, how a driver's error
// becomes one, and the rule that a dependency layer which cannot be built leaves the service up but not ready.
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"

export const failureReasons = [
  "connection refused",
  "connection reset",
  "connection closed",
  "timeout",
  "host not found",
  "authentication failed",
  "database not found",
  "shutting down",
  "loading",
  "not connected",
  "not initialised",
  "internal error",
  "unavailable"
] as const

/** A category a person can act on; never a raw driver message. */
export type FailureReason = typeof failureReasons[number]

/** What every check's typed error carries, so the readiness fold can report it. */
export interface CheckFailure {
  readonly reason: FailureReason
}

const codeReasons: Record<string, FailureReason> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  EPIPE: "connection reset",
  ETIMEDOUT: "timeout",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host not found",
  // PostgreSQL SQLSTATE codes
  "28000": "authentication failed",
  "28P01": "authentication failed",
  "3D000": "database not found",
  "57P01": "shutting down",
  "57P02": "shutting down",
  "57P03": "loading",
  "57014": "timeout"
}

const messageReasons: ReadonlyArray<readonly [RegExp, FailureReason]> = [
  [/timed? ?out|timeout/i, "timeout"],
  [/NOAUTH|WRONGPASS|password authentication|authentication failed/i, "authentication failed"],
  [/^LOADING/, "loading"],
  [/Connection terminated|Connection is closed|socket hang up|ended by the other party/i, "connection closed"],
  [/isn't writeable|not connected/i, "not connected"]
]

const codeOf = (error: unknown): string | undefined => {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined
  return typeof error.code === "string" ? error.code : undefined
}

const messageOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error && typeof error.message === "string"
    ? error.message
    : ""

const nameOf = (error: unknown): string =>
  typeof error === "object" && error !== null
    ? "_tag" in error && typeof error._tag === "string" ? error._tag : error.constructor.name
    : typeof error

/** Reads a driver error (following `cause` chains and aggregated connect errors) into a failure category. */
export const reasonOf = (error: unknown, depth = 0): FailureReason => {
  if (depth > 5 || error === undefined || error === null) return "unavailable"
  const code = codeOf(error)
  if (code !== undefined && code in codeReasons) return codeReasons[code]!
  if (error instanceof AggregateError && error.errors.length > 0) return reasonOf(error.errors[0], depth + 1)
  const message = messageOf(error)
  for (const [pattern, reason] of messageReasons) {
    if (pattern.test(message)) return reason
  }
  if (typeof error === "object" && "cause" in error && error.cause !== error) {
    const inner = reasonOf(error.cause, depth + 1)
    if (inner !== "unavailable") return inner
  }
  return "unavailable"
}

/**
 * A dependency layer that cannot be built (bad options, a constructor that throws) must not take the process
 * down: the service is replaced by one whose check fails with `not initialised`, and the failure is logged once.
 * Invalid configuration is the exception: it still stops the process at start.
 */
export const orNotInitialised = <I, S, E, R>(
  tag: Context.Tag<I, S>,
  layer: Layer.Layer<I, E, R>,
  notInitialised: S
): Layer.Layer<I, Extract<E, ConfigError.ConfigError>, R> =>
  Layer.catchAllCause(layer, (cause) => {
    const failure = Cause.failureOption(cause)
    if (Option.isSome(failure) && ConfigError.isConfigError(failure.value)) {
      return Layer.failCause(cause as Cause.Cause<Extract<E, ConfigError.ConfigError>>)
    }
    const error = Cause.squash(cause)
    // Only the error's name and category are logged: a driver message may carry a connection URL.
    return Layer.effect(
      tag,
      Effect.logError(`${tag.key} could not be initialised; it is reported not ready`).pipe(
        Effect.annotateLogs({ error: nameOf(error), reason: reasonOf(error) }),
        Effect.as(notInitialised)
      )
    )
  })

/** A dependency as readiness sees it: a name in the report and the check behind it. */
export interface Check {
  readonly name: string
  readonly ping: Effect.Effect<void, CheckFailure>
}

/** A service readiness can check: its `ping`, its name in reports, and what stands in when it cannot be built. */
export interface Pingable {
  readonly ping: Effect.Effect<void, CheckFailure>
}
/** A service tag (its phantom `Identifier` and `Service`) with the statics readiness needs. */
export interface Checkable {
  readonly Identifier: unknown
  readonly Service: Pingable
  readonly checkName: string
  readonly NotInitialised: Pingable
}

/**
 * Builds a dependency's layer in the current scope and yields its check. This is where `orNotInitialised` is
 * applied, once: a layer that cannot be built leaves the check failing with `not initialised`.
 */
export const check = <T extends Checkable, E, R>(
  service: T,
  layer: Layer.Layer<T["Identifier"], E, R>
): Effect.Effect<Check, Extract<E, ConfigError.ConfigError>, R | Scope.Scope> => {
  // A Tag's own type does not unify with an interface that adds statics, so the constraint names its phantoms.
  const tag = service as unknown as Context.Tag<T["Identifier"], Pingable>
  return Effect.map(
    Layer.build(orNotInitialised(tag, layer, service.NotInitialised)),
    (context): Check => ({ name: service.checkName, ping: Context.get(context, tag).ping })
  )
}
