// Issue 10, end to end: a real Prometheus (scrape interval 1 s, the rules of deploy/prometheus loaded) scrapes a real
// `node dist/main.js` whose Redis goes through a FaultProxy. Redis is cut for a measured stretch: the availability
// Prometheus computes from the seconds counters must match the injected downtime within one round, and
// DashboardDependencyDown must go pending, then fire once Redis has been reported down for its minute.
import { describe, expect, it } from "@effect/vitest"
import { Data, Effect } from "effect"
import * as FaultProxy from "../support/FaultProxy.js"
import { Fault } from "../support/FaultProxy.js"
import * as Prometheus from "../support/Prometheus.js"
import * as Service from "../support/Service.js"

const intervalMillis = 1_000
const budgetMillis = 500
/** ioredis reconnects with a backoff capped at 250 ms: a recovery is seen by the first round after it reconnects. */
const reconnectMillis = 250
/** Down for a minute before DashboardDependencyDown fires, plus evaluation and scrape slack. */
const firingDeadlineMillis = 90_000

class Timeout extends Data.TaggedError("Timeout")<{ readonly message: string }> {}

/** Polls `check` every 250 ms until it yields a value, failing after `millis`. */
const eventually = <A, E>(what: string, millis: number, check: Effect.Effect<A | undefined, E>) =>
  Effect.gen(function*() {
    const deadline = Date.now() + millis
    while (true) {
      const found = yield* check
      if (found !== undefined) return found
      if (Date.now() > deadline) return yield* new Timeout({ message: `${what}: not within ${millis} ms` })
      yield* Effect.sleep("250 millis")
    }
  })

const seconds = (millis: number) => millis / 1000

describe("a real Prometheus scraping the real service", () => {
  it.scopedLive("computes Redis's availability to within one round of the injected downtime, and DashboardDependencyDown fires", () =>
    Effect.gen(function*() {
      const redis = yield* FaultProxy.make({ target: { host: "127.0.0.1", port: 6379 } })
      const { port } = yield* Service.spawn({
        env: {
          DATABASE_URL: "postgres://postgres@127.0.0.1:5432/postgres",
          REDIS_URL: `redis://127.0.0.1:${redis.port}`,
          READINESS_TIMEOUT_MS: String(budgetMillis),
          READINESS_INTERVAL_MS: String(intervalMillis)
        }
      })
      // Scrape and evaluation every second, the rules of deploy/prometheus loaded.
      const prometheus = yield* Prometheus.make({ targets: [{ job: "dashboard", address: `127.0.0.1:${port}` }] })
      const value = (expr: string) => Effect.map(prometheus.query(expr), (samples) => samples[0]?.value[1])
      const redisUp = `dashboard_dependency_up{dependency="redis"}`

      // Scraped, and Redis reported up, for a few rounds before the window opens.
      yield* eventually(
        "a scrape reporting Redis up",
        // Prometheus 2.42 hands its targets over 5 s after start.
        30_000,
        Effect.map(value(redisUp), (v) => v === 1 ? v : undefined)
      )
      yield* Effect.sleep("3 seconds")
      const windowStart = Date.now()
      yield* Effect.sleep("3 seconds")

      // The cut: from here until the proxy passes again, Redis refuses connections and open ones are cut.
      const cutAt = Date.now()
      yield* redis.set(Fault.down)
      yield* eventually(
        "DashboardDependencyDown pending for redis",
        10_000,
        Effect.map(
          prometheus.alerts,
          (alerts) =>
            alerts.find((a) =>
              a.labels.alertname === "DashboardDependencyDown" && a.labels.dependency === "redis" &&
              a.state === "pending"
            )
        )
      )
      const pendingAfter = Date.now() - cutAt
      const firing = yield* eventually(
        "DashboardDependencyDown firing for redis",
        firingDeadlineMillis,
        Effect.map(
          prometheus.alerts,
          (alerts) =>
            alerts.find((a) =>
              a.labels.alertname === "DashboardDependencyDown" && a.labels.dependency === "redis" &&
              a.state === "firing"
            )
        )
      )
      const firingAfter = Date.now() - cutAt
      yield* redis.set(Fault.pass)
      const downMillis = Date.now() - cutAt

      yield* eventually(
        "a scrape reporting Redis up again",
        10_000,
        Effect.map(value(redisUp), (v) => v === 1 ? v : undefined)
      )
      yield* Effect.sleep("3 seconds")
      const windowEnd = Date.now()
      // Two more scrapes, so the last samples of the window are in storage.
      yield* Effect.sleep("2 seconds")

      const windowMillis = windowEnd - windowStart
      const [start, end] = [seconds(windowStart), seconds(windowEnd)]
      const series = (name: string, dependency: string) => `${name}{dependency="${dependency}"}`
      const up = series("dashboard_dependency_up_seconds_total", "redis")
      const observed = series("dashboard_dependency_observed_seconds_total", "redis")
      // The availability over the window from the counters' values at its two edges: exact to the round.
      const availability = yield* value(
        `(${up} @ ${end} - ${up} @ ${start}) / (${observed} @ ${end} - ${observed} @ ${start})`
      )
      const observedSeconds = yield* value(`${observed} @ ${end} - ${observed} @ ${start}`)
      // What the recording rules compute, rate over rate: the same ratio over the samples inside the range, which
      // leaves out the stretch before its first sample (up to one scrape interval at each edge).
      const range = `${Math.floor(seconds(windowMillis))}s`
      const rate = (name: string, dependency: string) => `sum(rate(${series(name, dependency)}[${range}] @ ${end}))`
      const ratio = (dependency: string) =>
        value(
          `${rate("dashboard_dependency_up_seconds_total", dependency)}` +
            ` / ${rate("dashboard_dependency_observed_seconds_total", dependency)}`
        )
      const rated = yield* ratio("redis")
      const database = yield* ratio("database")
      expect(availability).toBeDefined()
      expect(observedSeconds).toBeDefined()
      expect(rated).toBeDefined()
      const reportedDown = (1 - availability!) * observedSeconds!
      const expected = 1 - seconds(downMillis) / observedSeconds!
      console.log(
        `[prometheus] Redis cut for ${seconds(downMillis).toFixed(2)} s in a ${seconds(windowMillis).toFixed(1)} s ` +
          `window: Prometheus computes availability ${availability!.toFixed(4)} from the counters ` +
          `(${reportedDown.toFixed(2)} s reported down of ${observedSeconds!.toFixed(2)} s observed), against ` +
          `${expected.toFixed(4)} from the injected downtime; rate/rate over [${range}] ${rated!.toFixed(4)}; ` +
          `PostgreSQL ${database}; DashboardDependencyDown pending ${seconds(pendingAfter).toFixed(1)} s and ` +
          `firing ${seconds(firingAfter).toFixed(1)} s after the cut (active since ${firing.activeAt})`
      )
      // The service reports the cut from the first round after it, and the recovery from the first round after
      // Redis reconnects: each edge moves by at most one round (the interval and the round's own few milliseconds),
      // plus the reconnect backoff on the way up.
      expect(Math.abs(reportedDown - seconds(downMillis))).toBeLessThanOrEqual(
        seconds(intervalMillis + reconnectMillis + 100)
      )
      // Rate over rate misses at most one scrape interval of up time at each edge of its range.
      expect(Math.abs(rated! - availability!) * observedSeconds!).toBeLessThanOrEqual(2.5)
      expect(database).toBe(1)
      expect(firingAfter).toBeGreaterThanOrEqual(60_000)
    }))
})
