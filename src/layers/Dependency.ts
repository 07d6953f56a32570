// What the dependency layers share: the failure categories a readiness report may show, what Node itself says about
// a connection (network and TLS error codes), how a driver error's cause chain is read, and the rule that a
// dependency layer which cannot be built leaves the service up but not ready. What one driver or server says lives
// beside its layer (PostgresErrors.ts, RedisErrors.ts).
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
  "permission denied",
  "database not found",
  "schema not found",
  "too many connections",
  "out of memory",
  "disk full",
  "insufficient resources",
  "certificate not trusted",
  "tls not supported",
  "tls handshake failed",
  "shutting down",
  "loading",
  "not connected",
  "not initialised",
  "no serviceable tenant",
  "tenant unavailable",
  "internal error",
  "unavailable"
] as const

/** A category a person can act on; never a raw driver message. */
export type FailureReason = typeof failureReasons[number]

/** What every check's typed error carries, so the readiness fold can report it. */
export interface CheckFailure {
  readonly reason: FailureReason
}

/** Reads one error (not its causes) into a category, or says nothing. */
export type Classifier = (error: unknown) => FailureReason | undefined

// What Node reports for a socket, whatever speaks over it.
const nodeCodeReasons: Record<string, FailureReason> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  EPIPE: "connection reset",
  ETIMEDOUT: "timeout",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host not found",
  // TLS: the server's certificate does not verify against the trusted CAs or the host name.
  DEPTH_ZERO_SELF_SIGNED_CERT: "certificate not trusted",
  SELF_SIGNED_CERT_IN_CHAIN: "certificate not trusted",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "certificate not trusted",
  UNABLE_TO_GET_ISSUER_CERT: "certificate not trusted",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "certificate not trusted",
  CERT_HAS_EXPIRED: "certificate not trusted",
  CERT_NOT_YET_VALID: "certificate not trusted",
  CERT_REVOKED: "certificate not trusted",
  CERT_UNTRUSTED: "certificate not trusted",
  CERT_REJECTED: "certificate not trusted",
  CERT_SIGNATURE_FAILURE: "certificate not trusted",
  ERR_TLS_CERT_ALTNAME_INVALID: "certificate not trusted",
  HOSTNAME_MISMATCH: "certificate not trusted",
  // TLS: the handshake itself failed (protocol versions, ciphers, a peer that does not speak TLS).
  EPROTO: "tls handshake failed"
}

export const codeOf = (error: unknown): string | undefined => {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined
  return typeof error.code === "string" ? error.code : undefined
}

export const messageOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error && typeof error.message === "string"
    ? error.message
    : ""

/** The first category whose pattern matches the error's message. */
export const byMessage = (patterns: ReadonlyArray<readonly [RegExp, FailureReason]>): Classifier => (error) => {
  const message = messageOf(error)
  if (message === "") return undefined
  for (const [pattern, reason] of patterns) {
    if (pattern.test(message)) return reason
  }
  return undefined
}

/** What Node says about a socket or a TLS session: the network and TLS error codes. */
export const nodeReason: Classifier = (error) => {
  const code = codeOf(error)
  if (code === undefined) return undefined
  if (Object.hasOwn(nodeCodeReasons, code)) return nodeCodeReasons[code]!
  if (code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_")) return "tls handshake failed"
  return undefined
}

/** The categories a driver's built-in reconnection may retry quickly: the network, not the server, said no. */
export const networkReasons: ReadonlySet<FailureReason> = new Set([
  "connection refused",
  "connection reset",
  "connection closed",
  "timeout",
  "host not found",
  "not connected"
])

const nameOf = (error: unknown): string =>
  typeof error === "object" && error !== null
    ? "_tag" in error && typeof error._tag === "string" ? error._tag : error.constructor.name
    : typeof error

/**
 * Reads an error into a category: the driver's classifier first, then Node's codes, at each step of its `cause`
 * chain (and the first of an aggregated connect error's attempts).
 */
export const reasonOfWith = (classify: Classifier) => {
  const walk = (error: unknown, depth: number): FailureReason => {
    if (depth > 5 || error === undefined || error === null) return "unavailable"
    const here = classify(error) ?? nodeReason(error)
    if (here !== undefined) return here
    if (error instanceof AggregateError && error.errors.length > 0) return walk(error.errors[0], depth + 1)
    if (typeof error === "object" && "cause" in error && error.cause !== error) return walk(error.cause, depth + 1)
    return "unavailable"
  }
  return (error: unknown): FailureReason => walk(error, 0)
}

/** Node's codes only: for an error whose driver is not known. */
export const reasonOf = reasonOfWith(() => undefined)

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
  /**
   * Counts the check judged on its last run (the tenants by state), reported beside the checks under the check's
   * name. Read once per round, never per probe.
   */
  readonly counts?: () => Readonly<Record<string, number>>
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
