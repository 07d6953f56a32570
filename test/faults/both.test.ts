// Issue 3, scenario 7: PostgreSQL and Redis failing at the same time in different ways; both are reported, and the
// hung one still costs each probe no more than the budget.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { FailureReason } from "../../src/layers/Dependency.js"
import { type Fault, Fault as Faults } from "../support/FaultProxy.js"
import {
  awaitReport,
  type DependencyName,
  goneReasons,
  hangSettleMillis,
  isDown,
  isReady,
  maxLatency,
  now,
  probeBoundMillis,
  record,
  recover,
  start,
  summary,
  useGuard,
  useMeasurements,
  watch,
  watchHealth
} from "./harness.js"

useGuard()
useMeasurements()

const hung: ReadonlyArray<FailureReason> = ["timeout"]

const cases: ReadonlyArray<{
  readonly title: string
  readonly faults: Readonly<Record<DependencyName, Fault>>
  readonly expected: Readonly<Record<DependencyName, ReadonlyArray<FailureReason>>>
}> = [
  {
    title: "database down, redis blackholed",
    faults: { database: Faults.down, redis: Faults.blackhole },
    expected: { database: goneReasons, redis: hung }
  },
  {
    title: "database blackholed, redis down",
    faults: { database: Faults.blackhole, redis: Faults.down },
    expected: { database: hung, redis: goneReasons }
  }
]

describe("PostgreSQL and Redis failing at once", () => {
  for (const { expected, faults, title } of cases) {
    it.scopedLive(`7. ${title}: both reported, every probe within the budget + 100 ms`, () =>
      Effect.gen(function*() {
        const service = yield* start()
        yield* awaitReport(service, "ready at boot", isReady, { within: 2_000 })
        const health = yield* watchHealth(service)

        const faultAt = now()
        yield* Effect.all([service.set("database", faults.database), service.set("redis", faults.redis)], {
          concurrency: "unbounded"
        })
        const probes = yield* watch(service, 2_500)
        const healthProbes = yield* health

        const slow = probes.filter((probe) => probe.latencyMs > probeBoundMillis)
        expect(slow.map((probe) => `${Math.round(probe.latencyMs)} ms`)).toEqual([])
        const settled = probes.filter((probe) => probe.sentAt >= faultAt + hangSettleMillis)
        expect(settled.length).toBeGreaterThan(10)
        const wrong = settled.filter((probe) => !isDown(expected)(probe.value))
        expect(wrong.map((probe) => summary(probe.value))).toEqual([])
        expect(maxLatency(healthProbes)).toBeLessThan(100)

        const ready = yield* recover(service, ["database", "redis"], { what: "ready after both pass" })
        yield* record(`both: ${title}`, "max /readyz latency (ms)", maxLatency(probes))
        yield* record(`both: ${title}`, "max /healthz latency (ms)", maxLatency(healthProbes))
        yield* record(`both: ${title}`, "time to ready after pass (ms)", ready.elapsedMs)
      }))
  }
})
