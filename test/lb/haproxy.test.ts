// Issue 9's real clients: a real HAProxy (test/support/HAProxy.ts: `option httpchk GET /readyz`, `retries 0`, no
// redispatch) in front of two real `node dist/main.js` instances in the 503 mode (`http-check expect status 200`),
// each reaching PostgreSQL and Redis through its own FaultProxy pair. A request that succeeds through it was answered
// by the server it was first sent to, so zero failures through a rolling restart proves the service's drain.
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { Fault } from "../support/FaultProxy.js"
import * as HAProxy from "../support/HAProxy.js"
import type * as Service from "../support/Service.js"
import { budgetMillis, instance, intervalMillis, type LoadResult, now, proxies, startLoad } from "./harness.js"

// HAProxy's check timing: a production-like fall and rise of 2, at half the production interval (1 s in
// deploy/haproxy/haproxy.cfg) to keep the suite short.
const inter = 500
const fall = 2
const rise = 2
/**
 * Room for a busy 2-core machine (two services, HAProxy, the load and vitest on two cores): a check answered a few
 * hundred milliseconds late, a round that starts late. Generous because a bound that is missed by scheduling noise
 * says nothing about the service.
 */
const marginMillis = 1_500

/**
 * A fault reaches HAProxy's checks once a round sees it: the next round starts within one interval and gives up on a
 * blackholed Redis one budget later. Then the first check after that fails within one `inter`, and `fall - 1` more
 * failed checks mark the server DOWN.
 */
const downBoundMillis = intervalMillis + budgetMillis + fall * inter + marginMillis
/**
 * A lifted fault: a round already hanging when it is lifted still gives up one budget later; the next one starts
 * within an interval and reads ready (ioredis reconnects within its 250 ms backoff); then the next check passes
 * within one `inter` and `rise - 1` more mark the server UP.
 */
const upBoundMillis = budgetMillis + intervalMillis + 250 + rise * inter + marginMillis

/**
 * A SIGTERM makes readiness read `not ready` at once, so only HAProxy's timing counts: the first check fails within
 * one `inter`, the server is DOWN `fall - 1` checks later. The drain must cover that with room to spare, or HAProxy
 * would still route to an instance that has closed its listener: 3 s is 3 × fall × inter, the production ratio
 * (5 s against 2 × 1 s) and then some.
 */
const drainMillis = 3_000
const sigtermDownBoundMillis = fall * inter + marginMillis
/** After the drain, the in-flight requests (none slow here) and closing the pool and the client. */
const exitBoundMillis = drainMillis + 2_000 + marginMillis
/**
 * A restarted instance, counted from its first /healthz 200: its first round reads ready within a budget, the next
 * check comes within one `inter` and `rise - 1` more mark it UP. Twice the margin: a process just started is the
 * slowest to answer on a busy machine.
 */
const restartUpBoundMillis = budgetMillis + rise * inter + 2 * marginMillis

/** The load: keep-alive clients through HAProxy on paths that must never fail, the fast path and the Effect app. */
const clients = 12
const paths = ["/healthz", "/openapi.json"]
/** The issue's 20 s of load around a rolling restart. */
const loadMillis = 20_000

const twoInstances = (drain: number) =>
  Effect.gen(function*() {
    const a = { proxies: yield* proxies }
    const b = { proxies: yield* proxies }
    const instances = [
      { name: "s0", ...a, service: yield* instance(a.proxies, { drainMillis: drain }) },
      { name: "s1", ...b, service: yield* instance(b.proxies, { drainMillis: drain }) }
    ]
    const haproxy = yield* HAProxy.make({
      servers: instances.map(({ service }) => `127.0.0.1:${service.port}`),
      inter: `${inter} millis`,
      fall,
      rise,
      expect: "status 200"
    })
    for (const { name } of instances) yield* haproxy.awaitStatus(name, "UP", `${restartUpBoundMillis} millis`)
    return { instances, haproxy }
  })

const describeLoad = (result: LoadResult) =>
  `${result.sent} sent, ${result.failed} failed in ${result.durationMs} ms${
    result.failed === 0 ? "" : `: ${JSON.stringify(result.failures)}`
  }`

interface Restart {
  readonly name: string
  readonly exit: Service.Exit
  /** SIGTERM to HAProxy's DOWN. */
  readonly downMs: number
  /** SIGTERM to exit. */
  readonly drainMs: number
  /** Spawning the new process to its first /healthz 200. */
  readonly startMs: number
  /** Its first /healthz 200 to HAProxy's UP. */
  readonly upMs: number
}

/** SIGTERM one instance, wait for it to exit, start it again on its port and wait for HAProxy to have it UP. */
const restart = (
  haproxy: HAProxy.HAProxy,
  target: { readonly name: string; readonly proxies: Parameters<typeof instance>[0]; service: Service.Service },
  drain: number
) =>
  Effect.gen(function*() {
    const old = target.service
    const sigtermAt = now()
    yield* old.signal("SIGTERM")
    // With a drain, HAProxy must see it go DOWN before the listener closes; without one, it may never see it.
    const down = yield* Effect.either(haproxy.awaitStatus(target.name, "DOWN", `${exitBoundMillis} millis`))
    const downMs = down._tag === "Right" ? now() - sigtermAt : Number.NaN
    const exit = yield* old.awaitExit(`${exitBoundMillis} millis`)
    const drainMs = exit.at - sigtermAt
    const startedAt = now()
    target.service = yield* instance(target.proxies, { drainMillis: drain, port: old.port })
    const healthyAt = now()
    yield* haproxy.awaitStatus(target.name, "UP", `${restartUpBoundMillis} millis`)
    return {
      name: target.name,
      exit,
      downMs,
      drainMs,
      startMs: healthyAt - startedAt,
      upMs: now() - healthyAt
    } satisfies Restart
  })

/** The rolling restart under load; the load runs at least `loadMillis`, and one more second after the last UP. */
const rollingRestart = (drain: number, targets: ReadonlyArray<"s0" | "s1">, minimumLoadMillis: number) =>
  Effect.gen(function*() {
    const { haproxy, instances } = yield* twoInstances(drain)
    const load = yield* startLoad({ port: haproxy.port, clients, paths })
    const loadStartedAt = now()
    yield* Effect.sleep("1500 millis")
    const restarts: Array<Restart> = []
    for (const name of targets) {
      restarts.push(yield* restart(haproxy, instances.find((i) => i.name === name)!, drain))
      yield* Effect.sleep("1 second")
    }
    yield* Effect.sleep(Math.max(0, minimumLoadMillis - (now() - loadStartedAt)))
    const result = yield* load.stop
    const states = yield* haproxy.serverStates
    const round = (ms: number) => Math.round(ms)
    console.log(
      `[lb] rolling restart (SHUTDOWN_DRAIN_MS=${drain}): ${result.sent} sent, ${result.succeeded} succeeded, ${result.failed} failed ${
        JSON.stringify(result.failedBy)
      } in ${result.durationMs} ms; ${
        restarts.map((r) =>
          `${r.name}: exit ${r.exit.code ?? r.exit.signal}, DOWN ${round(r.downMs)} ms and exit ${
            round(r.drainMs)
          } ms after SIGTERM, started in ${round(r.startMs)} ms, UP ${round(r.upMs)} ms later`
        ).join("; ")
      }; sessions ${states.map((s) => `${s.name} ${s.sessions}`).join(", ")}`
    )
    return { result, restarts, haproxy }
  })

describe("HAProxy in front of two real instances", () => {
  it.scopedLive("blackholed Redis: the instance goes DOWN within its bound, no request fails, and it comes back UP", () =>
    Effect.gen(function*() {
      const { haproxy, instances } = yield* twoInstances(drainMillis)
      const [a] = instances
      const load = yield* startLoad({ port: haproxy.port, clients, paths })
      yield* Effect.sleep("1 second")

      yield* a!.proxies.redis.set(Fault.blackhole)
      const down = yield* haproxy.awaitStatus("s0", "DOWN", `${downBoundMillis} millis`)
      const sessionsWhenDown = (yield* haproxy.serverStates).find((s) => s.name === "s0")!.sessions
      yield* Effect.sleep("1500 millis")
      const sessionsAfter = (yield* haproxy.serverStates).find((s) => s.name === "s0")!.sessions

      yield* a!.proxies.redis.set(Fault.pass)
      const up = yield* haproxy.awaitStatus("s0", "UP", `${upBoundMillis} millis`)
      yield* Effect.sleep("1 second")
      const result = yield* load.stop
      const states = yield* haproxy.serverStates
      console.log(
        `[lb] blackhole: DOWN ${
          Math.round(Duration.toMillis(down))
        } ms after the fault (bound ${downBoundMillis}), UP ${
          Math.round(Duration.toMillis(up))
        } ms after it was lifted (bound ${upBoundMillis}); ${describeLoad(result)}; sessions ${
          states.map((s) => `${s.name} ${s.sessions}`).join(", ")
        }`
      )

      expect(result.failed, describeLoad(result)).toBe(0)
      expect(result.sent).toBeGreaterThan(500)
      // Once DOWN, HAProxy sends it nothing; once UP again, it gets its share.
      expect(sessionsAfter).toBe(sessionsWhenDown)
      expect(states.find((s) => s.name === "s0")!.sessions).toBeGreaterThan(sessionsAfter)
      expect(haproxy.output()).toMatch(/s0 is DOWN/)
      for (const { service } of instances) yield* service.assertAlive
    }))

  it.scopedLive(
    "a rolling restart under load loses no request, and every instance exits 0",
    () =>
      Effect.gen(function*() {
        const { restarts, result } = yield* rollingRestart(drainMillis, ["s0", "s1"], loadMillis)
        expect(result.failed, describeLoad(result)).toBe(0)
        expect(result.sent).toBeGreaterThan(1_000)
        expect(result.durationMs).toBeGreaterThanOrEqual(loadMillis)
        for (const r of restarts) {
          expect({ name: r.name, code: r.exit.code, signal: r.exit.signal }).toEqual({
            name: r.name,
            code: 0,
            signal: null
          })
          // HAProxy took it out while it was still serving, and it kept serving for the whole drain.
          expect(r.downMs).toBeLessThan(Math.min(sigtermDownBoundMillis, drainMillis))
          expect(r.drainMs).toBeGreaterThanOrEqual(drainMillis)
        }
      }),
    60_000
  )

  // The control: the same harness and load with the drain disabled must see failures, or the test above could pass
  // whatever the service does. The listener closes at SIGTERM while HAProxy still routes to it for up to fall ×
  // inter, and with `retries 0` each of those requests fails.
  it.scopedLive(
    "without the drain (SHUTDOWN_DRAIN_MS=0), the same restart loses requests",
    () =>
      Effect.gen(function*() {
        const { restarts, result } = yield* rollingRestart(0, ["s0"], 0)
        expect(result.failed, describeLoad(result)).toBeGreaterThan(0)
        expect(restarts[0]!.exit.code).toBe(0)
      }),
    60_000
  )
})
