// What a test watches beside an effect's result: the uncaught exceptions while its scope is open, and the names of
// the spans an effect opens.
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Tracer from "effect/Tracer"

/** Collects every uncaught exception until the scope closes. */
export const uncaughtExceptions: Effect.Effect<ReadonlyArray<unknown>, never, Scope.Scope> = Effect.suspend(() => {
  const uncaught: Array<unknown> = []
  const onUncaught = (error: unknown) => void uncaught.push(error)
  return Effect.as(
    Effect.acquireRelease(
      Effect.sync(() => process.on("uncaughtException", onUncaught)),
      () => Effect.sync(() => process.off("uncaughtException", onUncaught))
    ),
    uncaught
  )
})

/** Runs the effect and returns the names of the spans it opened, in order. */
export const spanNames = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<ReadonlyArray<string>, E, R> =>
  Effect.gen(function*() {
    const names: Array<string> = []
    const tracer = yield* Effect.tracer
    yield* effect.pipe(Effect.withTracer(Tracer.make({
      span: (name, ...rest) => {
        names.push(name)
        return tracer.span(name, ...rest)
      },
      context: tracer.context
    })))
    return names
  })
