// The shutdown state and the drain on a signal: who is told, in which order, how long the drain lasts and what it
// logs. The signal listeners are called directly: a real signal would reach the test runner too.
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Scope from "effect/Scope"
import { closeAllConnectionsAfter, DrainOnSignal, Shutdown, ShutdownSettings } from "../../src/Shutdown.js"

describe("the shutdown state", () => {
  it.effect("begins once: every listener is told once, in order, and a late listener at once", () =>
    Effect.gen(function*() {
      const shutdown = Context.get(yield* Layer.build(Shutdown.layer), Shutdown)
      const told: Array<string> = []
      shutdown.onBegin(() => told.push("a"))
      shutdown.onBegin(() => told.push("b"))
      expect(shutdown.isShuttingDown()).toBe(false)
      expect(told).toEqual([])
      yield* shutdown.begin
      expect(shutdown.isShuttingDown()).toBe(true)
      expect(told).toEqual(["a", "b"])
      yield* shutdown.begin
      expect(told).toEqual(["a", "b"])
      shutdown.onBegin(() => told.push("late"))
      expect(told).toEqual(["a", "b", "late"])
      yield* shutdown.begin
      expect(told).toEqual(["a", "b", "late"])
    }).pipe(Effect.scoped))
})

describe("closeAllConnectionsAfter", () => {
  it.each([
    [10_000, 8_000],
    [4_000, 2_000],
    [4_002, 2_002],
    [3_000, 1_500],
    [100, 50]
  ])("a timeout of %i ms cuts open connections after %i ms", (timeout, after) => {
    expect(closeAllConnectionsAfter(Duration.millis(timeout))).toBe(after)
  })
})

describe("the drain on a signal", () => {
  type Listener = (signal: NodeJS.Signals) => void

  /** Builds the drain in its own scope and hands back its signal listener, the shutdown state and the log. */
  const drainWith = (drainMillis: number) =>
    Effect.gen(function*() {
      const before = new Set(process.listeners("SIGTERM"))
      const beforeInt = new Set(process.listeners("SIGINT"))
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        DrainOnSignal.pipe(
          Layer.provideMerge(Shutdown.layer),
          Layer.provideMerge(Layer.succeed(ShutdownSettings, {
            drain: Duration.millis(drainMillis),
            // Past this the process exits: far beyond any test.
            timeout: Duration.hours(1)
          }))
        ),
        scope
      )
      const added = process.listeners("SIGTERM").filter((l) => !before.has(l)) as Array<Listener>
      const addedInt = process.listeners("SIGINT").filter((l) => !beforeInt.has(l)) as Array<Listener>
      expect(added).toHaveLength(1)
      expect(addedInt).toEqual(added)
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          process.off("SIGTERM", added[0]!)
          process.off("SIGINT", added[0]!)
        })
      )
      return { signal: added[0]!, shutdown: Context.get(context, Shutdown), scope }
    })

  const logged = (messages: Array<string>) =>
    Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => messages.push(String(message))))

  /** Closes the scope as the runtime does on a signal; resolves with how long the close took. */
  const stop = (scope: Scope.CloseableScope) =>
    Effect.map(Effect.timed(Scope.close(scope, Exit.void)), ([elapsed]) => Duration.toMillis(elapsed))

  it.scopedLive("stopped without a signal: not ready at once, no drain", () => {
    const messages: Array<string> = []
    return Effect.gen(function*() {
      const { scope, shutdown } = yield* drainWith(5_000)
      expect(shutdown.isShuttingDown()).toBe(false)
      expect(yield* stop(scope)).toBeLessThan(1_000)
      expect(shutdown.isShuttingDown()).toBe(true)
      expect(messages).toEqual(["shutting down (stop): not ready, no drain"])
    }).pipe(Effect.provide(logged(messages)))
  })

  it.scopedLive("SIGTERM: not ready first, then the drain for its whole length, then closing", () => {
    const messages: Array<string> = []
    return Effect.gen(function*() {
      const { scope, shutdown, signal } = yield* drainWith(300)
      signal("SIGTERM")
      let readyDuringDrain: boolean | undefined
      shutdown.onBegin(() => (readyDuringDrain = !shutdown.isShuttingDown()))
      const elapsed = yield* stop(scope)
      expect(readyDuringDrain).toBe(false)
      expect(elapsed).toBeGreaterThanOrEqual(290)
      expect(elapsed).toBeLessThan(2_000)
      expect(messages).toEqual([
        "shutting down (SIGTERM): not ready, draining for 300 ms",
        "drain over; closing"
      ])
    }).pipe(Effect.provide(logged(messages)))
  })

  it.scopedLive("a second signal cuts the drain short", () => {
    const messages: Array<string> = []
    return Effect.gen(function*() {
      const { scope, signal } = yield* drainWith(60_000)
      signal("SIGTERM")
      const closing = yield* Effect.fork(stop(scope))
      yield* Effect.sleep("100 millis")
      expect(messages).toEqual(["shutting down (SIGTERM): not ready, draining for 60000 ms"])
      signal("SIGTERM")
      expect(yield* closing.await.pipe(Effect.flatten)).toBeLessThan(5_000)
      expect(messages).toEqual([
        "shutting down (SIGTERM): not ready, draining for 60000 ms",
        "drain cut short by a second signal; closing"
      ])
    }).pipe(Effect.provide(logged(messages)))
  })

  it.scopedLive("SIGINT skips the drain, and so does a drain of 0", () => {
    const messages: Array<string> = []
    return Effect.gen(function*() {
      const interrupted = yield* drainWith(60_000)
      interrupted.signal("SIGINT")
      expect(yield* stop(interrupted.scope)).toBeLessThan(1_000)
      const noDrain = yield* drainWith(0)
      noDrain.signal("SIGTERM")
      expect(yield* stop(noDrain.scope)).toBeLessThan(1_000)
      expect(messages).toEqual([
        "shutting down (SIGINT): not ready, no drain",
        "shutting down (SIGTERM): not ready, no drain"
      ])
    }).pipe(Effect.provide(logged(messages)))
  })

  it.scopedLive("SIGINT after SIGTERM ends the drain", () => {
    const messages: Array<string> = []
    return Effect.gen(function*() {
      const { scope, signal } = yield* drainWith(60_000)
      signal("SIGTERM")
      const closing = yield* Effect.fork(stop(scope))
      yield* Effect.sleep("100 millis")
      signal("SIGINT")
      expect(yield* closing.await.pipe(Effect.flatten)).toBeLessThan(5_000)
      expect(messages.at(-1)).toBe("drain cut short by a second signal; closing")
    }).pipe(Effect.provide(logged(messages)))
  })
})
