// Failing layers for any dependency whose service is a `ping`: what the chaos suite provides instead of the
// live layers, and what another Effect service can use to rehearse the same failures.
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type { CheckFailure, FailureReason } from "./Dependency.js"

export interface Pingable<E> {
  readonly ping: Effect.Effect<void, E>
}

/** The state a `Switchable` dependency is in: up, or down for a reason. */
export type Switch = Option.Option<FailureReason>

export const up: Switch = Option.none()
export const down = (reason: FailureReason): Switch => Option.some(reason)

export const make = <I, E extends CheckFailure>(
  tag: Context.Tag<I, Pingable<E>>,
  unavailable: (reason: FailureReason) => E
) => {
  const withPing = (ping: Effect.Effect<void, E>) => Layer.succeed(tag, tag.of({ ping }))
  return {
    /** Every check passes. */
    Healthy: withPing(Effect.void),
    /** Every check fails with a typed error for `reason`. */
    Unavailable: (reason: FailureReason = "connection refused") => withPing(Effect.fail(unavailable(reason))),
    /** Every check waits forever and ignores interruption, like a driver stuck on a socket that never answers. */
    Hanging: withPing(Effect.never.pipe(Effect.uninterruptible)),
    /** Every check passes after `delay`. */
    Slow: (delay: Duration.DurationInput) => withPing(Effect.sleep(Duration.decode(delay))),
    /** Every check dies with a defect: a bug in the check, not a dependency failure. */
    Dying: withPing(Effect.die(new Error("chaos: a bug inside the check"))),
    /** The layer itself cannot be built. */
    FailingConstruction: Layer.effect(tag, Effect.die(new Error("chaos: the client constructor threw"))),
    /** Each check reads the switch: the test flips it to make the dependency flap. */
    Switchable: (state: Ref.Ref<Switch>) =>
      Layer.succeed(
        tag,
        tag.of({
          ping: Effect.flatMap(
            Ref.get(state),
            Option.match({ onNone: () => Effect.void, onSome: (reason) => Effect.fail(unavailable(reason)) })
          )
        })
      )
  }
}
