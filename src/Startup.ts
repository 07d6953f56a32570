// A service that cannot start says why in one line (naming the variable for bad configuration) and exits 1:
// no stack trace, and never a configured secret.
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

const describeConfigError = (error: ConfigError.ConfigError): string =>
  ConfigError.reduceWithContext(error, undefined, {
    andCase: (_, left, right) => `${left}; ${right}`,
    orCase: (_, left, right) => `${left}; ${right}`,
    invalidDataCase: (_, path, message) => `${path.join(".")} ${message}`,
    missingDataCase: (_, path) => `${path.join(".")} is missing`,
    sourceUnavailableCase: (_, path) => `${path.join(".")} could not be read`,
    unsupportedCase: (_, path, message) => `${path.join(".")} ${message}`
  })

export const describeStartupFailure = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    if (ConfigError.isConfigError(error)) return `invalid configuration: ${describeConfigError(error)}`
    if (
      typeof error === "object" && error !== null && "_tag" in error &&
      (error._tag === "ServeError" || error._tag === "ListenError")
    ) {
      const inner = "cause" in error && error.cause instanceof Error ? error.cause.message : "unknown reason"
      return `cannot listen: ${inner}`
    }
  }
  const squashed = Cause.squash(cause)
  return `unexpected failure: ${squashed instanceof Error ? squashed.message : String(squashed)}`
}

export const reportStartupFailure = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.tapErrorCause(self, (cause) =>
    Cause.isInterruptedOnly(cause)
      ? Effect.void
      : Effect.sync(() => process.stderr.write(`dashboard: ${describeStartupFailure(cause)}\n`)))
