// The probes: their bodies, encoded once so the Node fast path and the Effect handlers answer byte for byte alike,
// and the fast routes that serve them from the readiness snapshot.
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Readiness, type Snapshot } from "../Readiness.js"
import { type Health, healthzPath, type ReadinessReport, readyzPath } from "./Api.js"
import { type FastAnswer, type FastRoute, FastRoutes } from "./Server.js"

export const jsonHeaders = { "content-type": "application/json", "cache-control": "no-store" } as const

export const healthBody = JSON.stringify({ status: "ok" } satisfies typeof Health.Encoded)

// Everything but the age is fixed for a snapshot, so it is encoded once per snapshot, not once per probe.
const encodedPrefixes = new WeakMap<Snapshot, string>()

export const readinessBody = (snapshot: Snapshot, nowMillis: number): string => {
  let prefix = encodedPrefixes.get(snapshot)
  if (prefix === undefined) {
    const report: Omit<typeof ReadinessReport.Encoded, "ageMs"> = {
      status: snapshot.status,
      checkedAt: new Date(snapshot.checkedAt).toISOString(),
      checks: snapshot.checks
    }
    const json = JSON.stringify(report)
    prefix = `${json.slice(0, -1)},"ageMs":`
    encodedPrefixes.set(snapshot, prefix)
  }
  return `${prefix}${Math.max(0, nowMillis - snapshot.checkedAt)}}`
}

/** The probes as fast routes: `/healthz` touches nothing, `/readyz` reads the snapshot. */
export const ProbeRoutesLive = Layer.effect(
  FastRoutes,
  Effect.gen(function*() {
    const readiness = yield* Readiness
    const clock = yield* Effect.clock
    const health: FastAnswer = { status: 200, headers: jsonHeaders, body: healthBody }
    const answer = (snapshot: Snapshot): FastAnswer => ({
      status: 200,
      headers: jsonHeaders,
      body: readinessBody(snapshot, clock.unsafeCurrentTimeMillis())
    })
    const ready: FastRoute = () => {
      const snapshot = readiness.unsafeFresh(clock.unsafeCurrentTimeMillis())
      // Overdue: every probe waits on the same round, bounded by the check budget.
      return snapshot === undefined ? readiness.unsafeRefresh().then(answer) : answer(snapshot)
    }
    return new Map<string, FastRoute>([[healthzPath, () => health], [readyzPath, ready]])
  })
)
