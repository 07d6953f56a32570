// Process warnings (a driver's deprecation or security notice, `process.emitWarning`) go through the service's logger
// as one line each while the service runs, instead of Node's own multi-line printer on stderr.
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Runtime from "effect/Runtime"

/** One line: a warning's message can run over several (pg's SSL notice runs over nine). */
export const oneLine = (text: string): string => text.replace(/\s+/g, " ").trim()

export const ProcessWarningsLive: Layer.Layer<never> = Layer.scopedDiscard(
  Effect.gen(function*() {
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const onWarning = (warning: Error & { readonly code?: unknown }) => {
      runFork(
        Effect.logWarning(oneLine(`${warning.name}: ${warning.message}`)).pipe(
          typeof warning.code === "string" ? Effect.annotateLogs("code", warning.code) : (self) => self
        )
      )
    }
    // The listeners already there are Node's default printer: set aside while the service runs, put back after.
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        const defaults = process.listeners("warning")
        for (const listener of defaults) process.off("warning", listener)
        process.on("warning", onWarning)
        return defaults
      }),
      (defaults) =>
        Effect.sync(() => {
          process.off("warning", onWarning)
          for (const listener of defaults) process.on("warning", listener)
        })
    )
  })
)
