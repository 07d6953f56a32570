// Shutdown that loses no request. On SIGTERM readiness turns `not ready` (`shutting down`) at once and the service
// keeps serving for the drain, so load balancers and endpoints stop routing to it before the listener closes; then
// the server stops accepting, in-flight requests finish, and the pool and the Redis client close, all within the
// shutdown timeout. SIGINT (Ctrl+C at a terminal) and a second signal skip what is left of the drain.
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as AppConfig from "./AppConfig.js"

export interface ShutdownService {
  /** True from the moment shutdown begins; read synchronously by the server on every answer. */
  readonly isShuttingDown: () => boolean
  /** Marks the service as shutting down and tells every listener, once. */
  readonly begin: Effect.Effect<void>
  /** Runs `listener` when shutdown begins (at once if it already has). */
  readonly onBegin: (listener: () => void) => void
}

/** The service's lifecycle: whether it is shutting down. Readiness and the server both read it. */
export class Shutdown extends Context.Tag("dashboard/Shutdown")<Shutdown, ShutdownService>() {
  static readonly layer: Layer.Layer<Shutdown> = Layer.sync(Shutdown, () => {
    let shuttingDown = false
    const listeners: Array<() => void> = []
    return {
      isShuttingDown: () => shuttingDown,
      begin: Effect.sync(() => {
        if (shuttingDown) return
        shuttingDown = true
        for (const listener of listeners.splice(0)) listener()
      }),
      onBegin: (listener) => {
        if (shuttingDown) listener()
        else listeners.push(listener)
      }
    }
  })
}

export class ShutdownSettings extends Context.Tag("dashboard/ShutdownSettings")<ShutdownSettings, {
  /** How long the service keeps serving, not ready, after SIGTERM. */
  readonly drain: Duration.Duration
  /** Bounds what follows the drain: in-flight requests, closing the pool and the client. */
  readonly timeout: Duration.Duration
}>() {
  static readonly Live = Layer.effect(
    ShutdownSettings,
    Config.all({ drain: AppConfig.shutdownDrain, timeout: AppConfig.shutdownTimeout })
  )
}

/**
 * Drains on SIGTERM before anything else is released. Built after the server and readiness, so its finalizer runs
 * first when the runtime is interrupted by the signal (finalizers run in reverse order).
 */
export const DrainOnSignal: Layer.Layer<never, never, Shutdown | ShutdownSettings> = Layer.scopedDiscard(
  Effect.gen(function*() {
    const shutdown = yield* Shutdown
    const settings = yield* ShutdownSettings
    const signals: Array<NodeJS.Signals> = []
    const drained = yield* Deferred.make<void>()
    // The runtime interrupts the app on the first signal and then stops listening; this listener stays until the
    // process exits, so a second signal skips the drain instead of killing the process with Node's default handler.
    const onSignal = (signal: NodeJS.Signals) => {
      signals.push(signal)
      if (signal === "SIGINT" || signals.length > 1) Deferred.unsafeDone(drained, Effect.void)
    }
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        process.on("SIGTERM", onSignal)
        process.on("SIGINT", onSignal)
      }),
      () =>
        Effect.gen(function*() {
          yield* shutdown.begin
          const drainMillis = Duration.toMillis(settings.drain)
          const skipped = signals[0] !== "SIGTERM" || drainMillis === 0
          yield* Effect.logInfo(
            skipped
              ? `shutting down (${signals[0] ?? "stop"}): not ready, no drain`
              : `shutting down (SIGTERM): not ready, draining for ${drainMillis} ms`
          )
          if (!skipped) {
            // A timer, not a race: a finalizer runs uninterruptibly, so the loser of a race could never be stopped.
            const timer = setTimeout(() => Deferred.unsafeDone(drained, Effect.void), drainMillis)
            yield* Deferred.await(drained)
            clearTimeout(timer)
            yield* Effect.logInfo(
              signals.length > 1 ? "drain cut short by a second signal; closing" : "drain over; closing"
            )
          }
          // Past the timeout the process exits anyway, with 0: the orchestrator asked it to stop, and it did.
          setTimeout(() => process.exit(0), Duration.toMillis(settings.timeout)).unref()
        })
    )
  })
)

/** What the server leaves the pool and the client to close in, out of the shutdown timeout. */
export const closeAllConnectionsAfter = (timeout: Duration.Duration): number => {
  const millis = Duration.toMillis(timeout)
  return millis - Math.min(2_000, millis / 2)
}
