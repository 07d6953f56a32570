// The metrics' semantics on the test clock, with a dependency switched up and down between rounds, and /metrics
// over HTTP on the served app.
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as TestClock from "effect/TestClock"
import * as Chaos from "../../src/layers/Chaos.js"
import { Database } from "../../src/layers/Database.js"
import * as Dependency from "../../src/layers/Dependency.js"
import { Redis } from "../../src/layers/Redis.js"
import { latencyBuckets, Metrics } from "../../src/Metrics.js"
import { Readiness } from "../../src/Readiness.js"
import { Shutdown } from "../../src/Shutdown.js"
import * as Exposition from "../support/Exposition.js"
import * as TestApp from "../support/TestApp.js"

const build = (
  database: Layer.Layer<Database>,
  timeout: Duration.DurationInput = "500 millis",
  failureThreshold = 1
) =>
  Layer.build(
    Metrics.layer.pipe(
      Layer.provideMerge(
        Readiness.layer([Dependency.check(Database, database), Dependency.check(Redis, Redis.Test)]).pipe(
          Layer.provideMerge(
            Layer.merge(TestApp.settings({ timeout, interval: "1 second", failureThreshold }), Shutdown.layer)
          )
        )
      )
    )
  ).pipe(Effect.map((context) => ({
    metrics: Context.get(context, Metrics),
    readiness: Context.get(context, Readiness),
    shutdown: Context.get(context, Shutdown)
  })))

/** Switchable PostgreSQL; the first round has run at t = 0 when this returns. */
const switchable = (failureThreshold = 1) =>
  Effect.gen(function*() {
    const state = yield* Ref.make(Chaos.up)
    const built = yield* build(Database.Switchable(state), "500 millis", failureThreshold)
    yield* built.readiness.refresh
    const seconds = (n: number) => Effect.forEach(Array.from({ length: n }), () => TestClock.adjust("1 second"))
    const scrape = Effect.promise(() => built.metrics.scrape())
    return { ...built, state, seconds, scrape }
  })

describe("readiness metrics", () => {
  it.scoped("10 rounds up then 10 down: up seconds are half the observed seconds, for the dependency and the service", () =>
    Effect.gen(function*() {
      const { scrape, seconds, state } = yield* switchable()
      // Rounds at t = 0..9 see it up, rounds at t = 10..19 down; the round at t = 20 closes the last interval.
      yield* seconds(9)
      yield* Ref.set(state, Chaos.down("connection refused"))
      yield* seconds(11)
      const text = yield* scrape
      const database = { dependency: "database" }
      expect(Exposition.value(text, "dashboard_dependency_observed_seconds_total", database)).toBe(20)
      expect(Exposition.value(text, "dashboard_dependency_up_seconds_total", database)).toBe(10)
      expect(Exposition.value(text, "dashboard_dependency_observed_seconds_total", { dependency: "redis" })).toBe(20)
      expect(Exposition.value(text, "dashboard_dependency_up_seconds_total", { dependency: "redis" })).toBe(20)
      expect(Exposition.value(text, "dashboard_observed_seconds_total")).toBe(20)
      expect(Exposition.value(text, "dashboard_ready_seconds_total")).toBe(10)
    }))

  it.scoped("the gauges follow the reported state", () =>
    Effect.gen(function*() {
      const { scrape, seconds, state } = yield* switchable()
      let text = yield* scrape
      expect(Exposition.value(text, "dashboard_dependency_up", { dependency: "database" })).toBe(1)
      expect(Exposition.value(text, "dashboard_ready")).toBe(1)
      yield* Ref.set(state, Chaos.down("timeout"))
      yield* seconds(1)
      text = yield* scrape
      expect(Exposition.value(text, "dashboard_dependency_up", { dependency: "database" })).toBe(0)
      expect(Exposition.value(text, "dashboard_dependency_up", { dependency: "redis" })).toBe(1)
      expect(Exposition.value(text, "dashboard_ready")).toBe(0)
    }))

  it.scoped("state changes count flips between up and down, not rounds and not a new reason while down", () =>
    Effect.gen(function*() {
      const { scrape, seconds, state } = yield* switchable()
      yield* seconds(3)
      yield* Ref.set(state, Chaos.down("connection refused"))
      yield* seconds(3)
      yield* Ref.set(state, Chaos.down("timeout"))
      yield* seconds(3)
      yield* Ref.set(state, Chaos.up)
      yield* seconds(3)
      yield* Ref.set(state, Chaos.down("connection reset"))
      yield* seconds(1)
      const text = yield* scrape
      expect(Exposition.value(text, "dashboard_state_changes_total", { dependency: "database" })).toBe(3)
      expect(Exposition.value(text, "dashboard_state_changes_total", { dependency: "redis" })).toBe(0)
    }))

  it.scoped("checks are counted by dependency, result and reason; every series exists from the first round", () =>
    Effect.gen(function*() {
      const { scrape, seconds, state } = yield* switchable()
      const checks = (dependency: string, result: string, reason: string) =>
        Effect.map(
          scrape,
          (text) => Exposition.value(text, "dashboard_readiness_checks_total", { dependency, result, reason })
        )
      expect(yield* checks("database", "down", "timeout")).toBe(0)
      yield* seconds(4)
      yield* Ref.set(state, Chaos.down("authentication failed"))
      yield* seconds(2)
      expect(yield* checks("database", "up", "none")).toBe(5)
      expect(yield* checks("database", "down", "authentication failed")).toBe(2)
      expect(yield* checks("database", "down", "connection refused")).toBe(0)
      expect(yield* checks("redis", "up", "none")).toBe(7)
      const text = yield* scrape
      expect(Exposition.value(text, "dashboard_readiness_check_duration_seconds_count", { dependency: "database" }))
        .toBe(7)
    }))

  it.scoped("with flap damping the gauge and seconds follow the reported state, the checks what each round saw", () =>
    Effect.gen(function*() {
      const { scrape, seconds, state } = yield* switchable(3)
      yield* Ref.set(state, Chaos.down("timeout"))
      // Two failed rounds: still reported up.
      yield* seconds(2)
      let text = yield* scrape
      const database = { dependency: "database" }
      expect(Exposition.value(text, "dashboard_dependency_up", database)).toBe(1)
      expect(Exposition.value(text, "dashboard_state_changes_total", database)).toBe(0)
      expect(
        Exposition.value(text, "dashboard_readiness_checks_total", { ...database, result: "down", reason: "timeout" })
      )
        .toBe(2)
      // The third makes it down; the seconds counted it up until then.
      yield* seconds(2)
      text = yield* scrape
      expect(Exposition.value(text, "dashboard_dependency_up", database)).toBe(0)
      expect(Exposition.value(text, "dashboard_state_changes_total", database)).toBe(1)
      expect(Exposition.value(text, "dashboard_dependency_up_seconds_total", database)).toBe(3)
      expect(Exposition.value(text, "dashboard_dependency_observed_seconds_total", database)).toBe(4)
    }))

  it.scoped("once shutdown begins the service and every dependency read down, though no check ran", () =>
    Effect.gen(function*() {
      const { scrape, seconds, shutdown } = yield* switchable()
      yield* seconds(2)
      yield* shutdown.begin
      yield* seconds(3)
      const text = yield* scrape
      expect(Exposition.value(text, "dashboard_ready")).toBe(0)
      expect(Exposition.value(text, "dashboard_dependency_up", { dependency: "redis" })).toBe(0)
      expect(
        Exposition.value(text, "dashboard_readiness_checks_total", {
          dependency: "redis",
          result: "up",
          reason: "none"
        })
      )
        .toBe(3)
      expect(
        Exposition.value(text, "dashboard_readiness_checks_total", {
          dependency: "redis",
          result: "down",
          reason: "shutting down"
        })
      ).toBe(0)
    }))

  it.scoped("the latency histogram is in seconds and has a bucket at the configured budget", () =>
    Effect.gen(function*() {
      const { metrics, readiness } = yield* build(Database.Slow("30 millis"), "300 millis")
      const round = yield* Effect.fork(readiness.refresh)
      yield* TestClock.adjust("30 millis")
      yield* Effect.asVoid(round.await)
      const text = yield* Effect.promise(() => metrics.scrape())
      const bucket = (le: string) =>
        Exposition.value(text, "dashboard_readiness_check_duration_seconds_bucket", { dependency: "database", le })
      expect(bucket("0.025")).toBe(0)
      expect(bucket("0.05")).toBe(1)
      expect(bucket("0.3")).toBe(1)
      expect(Exposition.value(text, "dashboard_readiness_check_duration_seconds_sum", { dependency: "database" }))
        .toBeCloseTo(0.03, 6)
      expect(latencyBuckets(Duration.millis(500))).toEqual([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1])
      expect(latencyBuckets(Duration.millis(2000)).at(-1)).toBe(2)
    }))
})

describe("GET /metrics", () => {
  const healthy = () =>
    Effect.tap(TestApp.serve({ database: Database.Test, redis: Redis.Test }), (app) => app.readiness.refresh)

  it.scopedLive("answers the Prometheus text format, with the process and runtime metrics", () =>
    Effect.gen(function*() {
      const app = yield* healthy()
      const probe = yield* app.request("/metrics")
      expect(probe.status).toBe(200)
      expect(probe.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8")
      // A scrape is a reading of now: no cache between Prometheus and the process may answer it.
      expect(probe.headers.get("cache-control")).toBe("no-store")
      const types = Exposition.types(probe.text)
      for (
        const [name, type] of [
          ["dashboard_dependency_up", "gauge"],
          ["dashboard_ready", "gauge"],
          ["dashboard_readiness_checks_total", "counter"],
          ["dashboard_readiness_check_duration_seconds", "histogram"],
          ["dashboard_dependency_observed_seconds_total", "counter"],
          ["dashboard_dependency_up_seconds_total", "counter"],
          ["dashboard_ready_seconds_total", "counter"],
          ["dashboard_observed_seconds_total", "counter"],
          ["dashboard_state_changes_total", "counter"],
          ["dashboard_http_requests_total", "counter"],
          ["process_resident_memory_bytes", "gauge"],
          ["nodejs_heap_size_used_bytes", "gauge"],
          ["nodejs_eventloop_lag_seconds", "gauge"],
          ["nodejs_active_handles", "gauge"]
        ] as const
      ) expect(types.get(name), name).toBe(type)
      // promtool rejects a gauge named like a counter.
      for (const [name, type] of types) if (name.endsWith("_total")) expect(type, name).toBe("counter")
    }))

  it.scopedLive("requests are counted by route and status class, the Effect app's by known path or \"other\"", () =>
    Effect.gen(function*() {
      const app = yield* healthy()
      for (let i = 0; i < 3; i++) yield* app.request("/healthz")
      for (let i = 0; i < 2; i++) yield* app.request("/readyz?verbose")
      yield* app.request("/openapi.json")
      yield* app.request("/healthz", { method: "POST" })
      yield* app.request("/nope")
      yield* app.request("/secret-token-in-a-path")
      yield* app.request("/metrics")
      // The Effect app's requests are counted when their responses finish, which the client may see first.
      yield* Effect.sleep("50 millis")
      const text = (yield* app.request("/metrics")).text
      const requests = (route: string, code: string) =>
        Exposition.value(text, "dashboard_http_requests_total", { route, code })
      expect(requests("/healthz", "2xx")).toBe(3)
      expect(requests("/readyz", "2xx")).toBe(2)
      expect(requests("/openapi.json", "2xx")).toBe(1)
      expect(requests("/healthz", "4xx")).toBe(1)
      expect(requests("other", "4xx")).toBe(2)
      expect(requests("/metrics", "2xx")).toBe(1)
      expect(text).not.toContain("secret-token")
    }))

  it.scopedLive("a scrape reads memory: two hundred scrapes cause no check", () =>
    Effect.gen(function*() {
      const pings = yield* Ref.make(0)
      const counting = Layer.succeed(Database, Database.of({ ping: Ref.update(pings, (n) => n + 1) }))
      const app = yield* TestApp.serve({
        database: counting,
        redis: Redis.Test,
        settings: TestApp.settings({ interval: "1 minute" })
      })
      yield* app.readiness.refresh
      const before = yield* Ref.get(pings)
      yield* Effect.all(Array.from({ length: 200 }, () => app.request("/metrics")), { concurrency: 20 })
      expect(yield* Ref.get(pings)).toBe(before)
    }))
})
