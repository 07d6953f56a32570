// Issue 9's shutdown, on the real process (`node dist/main.js`, 503 mode) behind its own FaultProxy pair: requests in
// flight at SIGTERM are answered in full, readiness reads `shutting down` on every check through the drain while
// /healthz still answers, the listener then closes, and the process exits 0 within drain + timeout even while its
// Redis is blackholed; a second signal and SIGINT skip the drain.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { Fault } from "../support/FaultProxy.js"
import * as Raw from "../support/Raw.js"
import { type Answer, budgetMillis, connect, getOnce, hold, instance, intervalMillis, now, proxies } from "./harness.js"

const drainMillis = 1_500
const timeoutMillis = 3_000
/**
 * Scheduling room on a busy 2-core machine: a timer that fires late, a process that takes a while to tear down
 * its runtime after the last finalizer. Well below the drain, so "at once" still means "well before the drain ends".
 */
const marginMillis = 1_000

const isAnswer = (answer: Answer | string): answer is Answer => typeof answer !== "string"

const readinessOf = (answer: Answer) =>
  JSON.parse(answer.body) as { readonly status: string; readonly checks: Record<string, { readonly error?: string }> }

/** Polls `/readyz` until `predicate` holds, within `withinMillis`: the answer, and when its probe was sent. */
const awaitReadyz = (port: number, what: string, predicate: (answer: Answer) => boolean, withinMillis: number) =>
  Effect.gen(function*() {
    const deadline = now() + withinMillis
    let last: Answer | string = "nothing yet"
    while (now() < deadline) {
      const sentAt = now()
      last = yield* getOnce(port, "/readyz")
      if (isAnswer(last) && predicate(last)) return Object.assign(last, { sentAt })
      yield* Effect.sleep("20 millis")
    }
    return yield* Effect.dieMessage(`${what}: not seen within ${withinMillis} ms; last: ${JSON.stringify(last)}`)
  })

const everyCheckShuttingDown = (answer: Answer) => {
  const report = readinessOf(answer)
  return report.status === "not ready" && Object.keys(report.checks).length === 2 &&
    Object.values(report.checks).every((check) => check.error === "shutting down")
}

describe("node dist/main.js shutting down", () => {
  it.scopedLive(
    "answers every request in flight, reads shutting down through the drain, closes, and exits 0 within drain + timeout with Redis blackholed",
    () =>
      Effect.gen(function*() {
        const through = yield* proxies
        const service = yield* instance(through, { drainMillis, timeoutMillis })
        yield* awaitReadyz(service.port, "ready", (a) => a.status === 200, intervalMillis + budgetMillis + marginMillis)

        // A hung Redis: its check times out, and the client's quit() at shutdown would wait forever.
        yield* through.redis.set(Fault.blackhole)
        yield* awaitReadyz(
          service.port,
          "redis timeout",
          (a) => a.status === 503 && readinessOf(a).checks["redis"]?.error === "timeout",
          intervalMillis + budgetMillis + marginMillis
        )

        // Requests in flight at SIGTERM and held past the drain, across the listener's close: a non-probe path
        // through the Effect app, and both probes on the fast path.
        const held = yield* Effect.all(
          ["/openapi.json", "/openapi.json", "/healthz", "/readyz"].map((path) =>
            Effect.map(hold(service.port, path), (request) => ({ path, request }))
          )
        )
        // And a burst of whole requests on new connections, sent just before the signal.
        const burst = yield* Effect.fork(
          Effect.all(
            Array.from({ length: 40 }, (_, i) => getOnce(service.port, i % 2 === 0 ? "/openapi.json" : "/healthz")),
            { concurrency: "unbounded" }
          )
        )
        yield* Effect.sleep("10 millis")
        const sigtermAt = now()
        yield* service.signal("SIGTERM")

        // The drain: readiness not ready (503) with every check `shutting down`, /healthz 200, both closing their
        // connection. Probed until 300 ms before its end so that the listener is surely still open.
        const shuttingDown = yield* awaitReadyz(service.port, "shutting down", everyCheckShuttingDown, marginMillis)
        // The probe that first read it may have been sent before the process took the signal in.
        const notReadyAfterMs = shuttingDown.sentAt - sigtermAt
        const duringDrain: Array<{ readonly readyz: Answer | string; readonly healthz: Answer | string }> = []
        while (now() - sigtermAt < drainMillis - 300) {
          duringDrain.push({
            readyz: yield* getOnce(service.port, "/readyz"),
            healthz: yield* getOnce(service.port, "/healthz")
          })
          yield* Effect.sleep("50 millis")
        }

        // Then the listener closes: new connections are refused while the held requests are still open.
        let refusedAfterMs = Number.NaN
        while (now() - sigtermAt < drainMillis + marginMillis) {
          if ((yield* connect(service.port)) === "ECONNREFUSED") {
            refusedAfterMs = now() - sigtermAt
            break
          }
          yield* Effect.sleep("20 millis")
        }
        yield* service.assertAlive

        // The held requests end now, after the listener closed, and are answered in full.
        yield* Effect.forEach(held, ({ request }) => request.finish, { discard: true })
        const answers = yield* Effect.forEach(held, ({ path, request }) =>
          Effect.map(request.received, (received) => ({ path, received, parsed: Raw.parse(received.text) })))
        const burstAnswers = yield* Fiber.await(burst)
        const exit = yield* service.awaitExit(`${drainMillis + timeoutMillis + marginMillis} millis`)
        const exitAfterMs = exit.at - sigtermAt

        console.log(
          `[lb] shutdown: first /readyz reading shutting down sent ${
            Math.round(notReadyAfterMs)
          } ms after SIGTERM, ${duringDrain.length} probe pairs during the drain, new connections refused ${
            Math.round(refusedAfterMs)
          } ms after, exit ${exit.code ?? exit.signal} ${Math.round(exitAfterMs)} ms after (bound ${
            drainMillis + timeoutMillis + marginMillis
          })`
        )

        expect(shuttingDown.status).toBe(503)
        expect(notReadyAfterMs).toBeLessThan(drainMillis / 2)
        expect(duringDrain.length).toBeGreaterThan(3)
        for (const { healthz, readyz } of duringDrain) {
          expect(isAnswer(readyz) && readyz.status === 503 && everyCheckShuttingDown(readyz), JSON.stringify(readyz))
            .toBe(true)
          expect(isAnswer(readyz) && readyz.headers.connection).toBe("close")
          expect(
            isAnswer(healthz) && healthz.status === 200 && healthz.body === "{\"status\":\"ok\"}",
            JSON.stringify(healthz)
          )
            .toBe(true)
          expect(isAnswer(healthz) && healthz.headers.connection).toBe("close")
        }
        // Not before the drain ended, and soon after.
        expect(refusedAfterMs).toBeGreaterThanOrEqual(drainMillis)
        expect(refusedAfterMs).toBeLessThan(drainMillis + marginMillis)

        for (const { parsed, path, received } of answers) {
          expect(received.error, `${path}: ${received.text}`).toBeUndefined()
          expect(parsed._tag, `${path}: ${received.text}`).toBe("Responses")
          if (parsed._tag !== "Responses") {
            continue
          }
          expect(parsed.responses.length).toBe(1)
          const response = parsed.responses[0]!
          expect(response.headers["connection"]).toBe("close")
          if (path === "/readyz") {
            expect(response.status).toBe(503)
            expect(everyCheckShuttingDown({ status: response.status, headers: {}, body: response.body })).toBe(true)
          } else {
            expect(response.status, `${path}: ${received.text}`).toBe(200)
            expect(() =>
              JSON.parse(response.body)
            ).not.toThrow()
          }
        }
        expect(burstAnswers._tag).toBe("Success")
        if (burstAnswers._tag === "Success") {
          for (const answer of burstAnswers.value) {
            expect(isAnswer(answer) && answer.status === 200, JSON.stringify(answer)).toBe(true)
          }
        }

        expect({ code: exit.code, signal: exit.signal }, service.output()).toEqual({ code: 0, signal: null })
        expect(exitAfterMs).toBeLessThan(drainMillis + timeoutMillis + marginMillis)
      }),
    30_000
  )

  /** A long drain, so that skipping it is plain in the timings. */
  const longDrainMillis = 10_000
  /** What a shutdown without a drain takes against healthy dependencies, with room for a busy machine. */
  const noDrainExitMillis = 1_500

  it.scopedLive("a second SIGTERM during the drain makes it exit at once, with 0", () =>
    Effect.gen(function*() {
      const service = yield* instance(yield* proxies, { drainMillis: longDrainMillis })
      yield* awaitReadyz(service.port, "ready", (a) => a.status === 200, intervalMillis + budgetMillis + marginMillis)
      const sigtermAt = now()
      yield* service.signal("SIGTERM")
      yield* awaitReadyz(service.port, "draining", everyCheckShuttingDown, marginMillis)
      yield* Effect.sleep("300 millis")
      yield* service.assertAlive
      const secondAt = now()
      yield* service.signal("SIGTERM")
      const exit = yield* service.awaitExit(`${noDrainExitMillis} millis`)
      console.log(
        `[lb] second SIGTERM: exit ${exit.code ?? exit.signal} ${Math.round(exit.at - secondAt)} ms after it, ${
          Math.round(exit.at - sigtermAt)
        } ms after the first (drain ${longDrainMillis})`
      )
      expect({ code: exit.code, signal: exit.signal }, service.output()).toEqual({ code: 0, signal: null })
      expect(exit.at - secondAt).toBeLessThan(noDrainExitMillis)
      expect(service.output()).toContain("drain cut short by a second signal")
    }))

  it.scopedLive("SIGINT skips the drain and exits 0", () =>
    Effect.gen(function*() {
      const service = yield* instance(yield* proxies, { drainMillis: longDrainMillis })
      yield* awaitReadyz(service.port, "ready", (a) => a.status === 200, intervalMillis + budgetMillis + marginMillis)
      const sigintAt = now()
      yield* service.signal("SIGINT")
      const exit = yield* service.awaitExit(`${noDrainExitMillis} millis`)
      console.log(`[lb] SIGINT: exit ${exit.code ?? exit.signal} ${Math.round(exit.at - sigintAt)} ms after it`)
      expect({ code: exit.code, signal: exit.signal }, service.output()).toEqual({ code: 0, signal: null })
      expect(exit.at - sigintAt).toBeLessThan(noDrainExitMillis)
      expect(service.output()).toContain("no drain")
    }))
})
