// The SLA report: availability, state changes and latency percentiles on the test clock, its memory bound over two
// days of rounds, and GET /status over HTTP.
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import { StatusToken } from "../../src/http/StatusToken.js"
import * as Chaos from "../../src/layers/Chaos.js"
import { Database } from "../../src/layers/Database.js"
import * as Dependency from "../../src/layers/Dependency.js"
import { Redis } from "../../src/layers/Redis.js"
import { type CheckResult, Readiness, type Round } from "../../src/Readiness.js"
import { Shutdown } from "../../src/Shutdown.js"
import { changesKept, History, latencySamplesKept, minutesKept, Status, StatusReport } from "../../src/Status.js"
import * as TestApp from "../support/TestApp.js"

const minute = 60_000
const iso = (millis: number) => new Date(millis).toISOString()

const build = (database: Layer.Layer<Database>) =>
  Layer.build(
    Status.layer.pipe(
      Layer.provideMerge(
        Readiness.layer([Dependency.check(Database, database), Dependency.check(Redis, Redis.Test)]).pipe(
          Layer.provideMerge(
            Layer.merge(TestApp.settings({ timeout: "500 millis", interval: "1 minute" }), Shutdown.layer)
          )
        )
      )
    )
  ).pipe(
    Effect.map((context) => ({ status: Context.get(context, Status), readiness: Context.get(context, Readiness) }))
  )

const round = (at: number, checks: Readonly<Record<string, CheckResult>>): Round => {
  const ready = Object.values(checks).every((check) => check.status === "up")
  return {
    startedAt: at,
    finishedAt: at,
    results: checks,
    reported: { status: ready ? "ready" : "not ready", checkedAt: at, checks }
  }
}
const up = (latencyMs = 1): CheckResult => ({ status: "up", latencyMs })
const down = (latencyMs = 1): CheckResult => ({ status: "down", latencyMs, error: "connection refused" })

describe("the SLA report on the test clock", () => {
  it.scoped("availability is exact after injected downtime: 15 minutes down in an hour is 0.75", () =>
    Effect.gen(function*() {
      const state = yield* Ref.make(Chaos.up)
      const { readiness, status } = yield* build(Database.Switchable(state))
      yield* readiness.refresh
      // A round a minute from t = 0. The round at 21:00 is the first to see PostgreSQL down, the one at 36:00 the
      // first to see it up again: it was reported down for 15 minutes.
      yield* TestClock.adjust("20 minutes")
      yield* Ref.set(state, Chaos.down("connection refused"))
      yield* TestClock.adjust("15 minutes")
      yield* Ref.set(state, Chaos.up)
      yield* TestClock.adjust("25 minutes")

      let report = yield* status.report
      const database = report.dependencies.database!
      expect(database.windows.lastHour).toEqual({ availability: 0.75, observedSeconds: 3600 })
      expect(database.windows.sinceStart).toEqual({ availability: 0.75, observedSeconds: 3600 })
      expect(database.status).toBe("up")
      expect(database.since).toBe(iso(36 * minute))
      expect(database.changes).toEqual([
        { at: iso(36 * minute), status: "up" },
        { at: iso(21 * minute), status: "down", error: "connection refused" }
      ])
      expect(report.dependencies.redis!.windows.lastHour.availability).toBe(1)
      expect(report.windows.lastHour).toEqual({ availability: 0.75, observedSeconds: 3600 })
      expect(report.changes.map((change) => change.status)).toEqual(["ready", "not ready"])
      expect(report.checkedAt).toBe(iso(60 * minute))

      // An hour later the downtime has left the last hour but not the last day.
      yield* TestClock.adjust("60 minutes")
      report = yield* status.report
      expect(report.dependencies.database!.windows.lastHour.availability).toBe(1)
      expect(report.dependencies.database!.windows.lastDay).toEqual({ availability: 0.875, observedSeconds: 7200 })
      expect(report.windows.sinceStart.availability).toBe(0.875)
    }))

  it.scoped("before the first round the report fails closed: not ready, nothing observed", () =>
    Effect.gen(function*() {
      const { status } = yield* build(Database.Hanging)
      const report = yield* status.report
      expect(report.status).toBe("not ready")
      expect(report.checkedAt).toBeNull()
      expect(report.windows.sinceStart).toEqual({ availability: null, observedSeconds: 0 })
    }))
})

describe("the history", () => {
  it("a day at one round a second stays within its fixed budget, and the ring only holds the last day", () => {
    const history = new History(0)
    const day = 24 * 60 * minute
    // Two days, PostgreSQL flapping every 100 s, a round every second.
    for (let at = 0; at <= 2 * day; at += 1000) {
      const flap = Math.floor(at / 100_000) % 2 === 1
      history.record(round(at, { database: flap ? down(2) : up(1), redis: up(1) }))
    }
    const internals = history as unknown as {
      dependencies: Map<string, {
        series: { availability: { minutes: Float64Array; observed: Float64Array }; changes: Array<unknown> }
        latencies: { values: Float64Array; size: number }
      }>
    }
    const database = internals.dependencies.get("database")!
    expect(database.series.availability.minutes.length).toBe(minutesKept)
    expect(database.series.availability.observed.length).toBe(minutesKept)
    const held = [...database.series.availability.minutes]
    expect(Math.min(...held)).toBe(2 * 1440 - minutesKept)
    expect(Math.max(...held)).toBe(2 * 1440 - 1)
    expect(database.series.changes.length).toBe(changesKept)
    expect(database.latencies.values.length).toBe(latencySamplesKept)
    expect(database.latencies.size).toBe(latencySamplesKept)

    const report = history.report(2 * day)
    expect(report.dependencies.database!.windows.lastDay).toEqual({ availability: 0.5, observedSeconds: 86_400 })
    expect(report.dependencies.database!.windows.sinceStart).toEqual({ availability: 0.5, observedSeconds: 172_800 })
    expect(report.dependencies.database!.changes).toHaveLength(changesKept)
    expect(report.dependencies.database!.changes[0]).toEqual({ at: iso(2 * day), status: "up" })
  })

  it("the time between two rounds counts in the state reported over it, the earlier round's", () => {
    const history = new History(0)
    history.record(round(0, { database: up() }))
    history.record(round(10_000, { database: down() }))
    history.record(round(20_000, { database: down() }))
    expect(history.report(20_000).dependencies.database!.windows.sinceStart)
      .toEqual({ availability: 0.5, observedSeconds: 20 })
    expect(history.report(20_000).windows.sinceStart).toEqual({ availability: 0.5, observedSeconds: 20 })
  })

  it("latency p50 and p99 are over the last five minutes only", () => {
    const history = new History(0)
    // Ten minutes ago, slow checks; in the last five minutes, 1..100 ms.
    for (let i = 0; i < 100; i++) history.record(round(i * 1000, { database: up(400) }))
    const start = 10 * minute
    for (let i = 1; i <= 100; i++) history.record(round(start + i * 1000, { database: up(i) }))
    expect(history.report(start + 100_000).dependencies.database!.latencyMs).toEqual({ p50: 50, p99: 99, samples: 100 })
    expect(history.report(start + 20 * minute).dependencies.database!.latencyMs)
      .toEqual({ p50: null, p99: null, samples: 0 })
  })

  it("a gap longer than the day does not overrun the ring", () => {
    const history = new History(0)
    history.record(round(0, { database: up() }))
    history.record(round(3 * 24 * 60 * minute, { database: up() }))
    const report = history.report(3 * 24 * 60 * minute)
    expect(report.dependencies.database!.windows.lastDay.observedSeconds).toBe(86_400)
    expect(report.dependencies.database!.windows.sinceStart.observedSeconds).toBe(3 * 86_400)
  })
})

describe("GET /status", () => {
  it.scopedLive("answers the report as JSON, described in /openapi.json, with no host, URL or driver message", () =>
    Effect.gen(function*() {
      const app = yield* TestApp.serve({ database: Database.Unavailable("authentication failed"), redis: Redis.Test })
      yield* app.readiness.refresh
      const probe = yield* app.request("/status")
      expect(probe.status).toBe(200)
      expect(probe.headers.get("content-type")).toContain("application/json")
      const report = yield* Schema.decodeUnknown(StatusReport)(probe.json)
      expect(report.status).toBe("not ready")
      expect(report.dependencies.database).toMatchObject({ status: "down", error: "authentication failed" })
      expect(report.dependencies.redis).toMatchObject({ status: "up" })
      expect(probe.text).not.toMatch(/127\.0\.0\.1|postgres:|redis:|password/)
      const spec = (yield* app.request("/openapi.json")).json as { paths: Record<string, unknown> }
      expect(Object.keys(spec.paths)).toContain("/status")
    }))

  it.scopedLive("JSON is never cached and varies on Accept; with STATUS_TOKEN it needs the bearer, the page does not", () =>
    Effect.gen(function*() {
      const app = yield* TestApp.serve({
        database: Database.Test,
        redis: Redis.Test,
        token: StatusToken.make(Redacted.make("s3cret"))
      })
      yield* app.readiness.refresh
      const refused = yield* app.request("/status")
      expect(refused.status).toBe(401)
      expect(refused.headers.get("content-type")).toBe("application/json")
      expect(refused.headers.get("www-authenticate")).toBe("Bearer")
      expect(refused.headers.get("cache-control")).toBe("no-store")
      expect(refused.json).toEqual({ error: "unauthorized" })
      const report = yield* app.request("/status", { headers: { authorization: "Bearer s3cret" } })
      expect(report.status).toBe(200)
      expect(report.headers.get("content-type")).toBe("application/json")
      expect(report.headers.get("cache-control")).toBe("no-store")
      expect(report.headers.get("vary")).toBe("accept")
      expect(report.json).toMatchObject({ status: "ready" })
      const page = yield* app.request("/status", { headers: { accept: "text/html" } })
      expect(page.status).toBe(200)
      expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8")
    }))

  it.scopedLive("/openapi.json says what /status answers: the report as JSON, the page as HTML, and the Accept header", () =>
    Effect.gen(function*() {
      const app = yield* TestApp.serve({ database: Database.Test, redis: Redis.Test })
      const spec = (yield* app.request("/openapi.json")).json as {
        paths: Record<string, {
          get: {
            description: string
            parameters: ReadonlyArray<{ name: string; in: string; required?: boolean }>
            responses: Record<string, { content: Record<string, { schema: unknown }> }>
          }
        }>
      }
      const status = spec.paths["/status"]!.get
      expect(status.description).toBe(
        "The SLA report from the process's memory: availability over the last hour, the last day and since start, the " +
          "last state changes and recent check latency, for the service and each dependency. Touches no dependency. " +
          "Answered as JSON unless `Accept` rates `text/html` above `application/json`, as a browser does: then the " +
          "status page, which polls this endpoint for JSON."
      )
      expect(status.parameters).toContainEqual(
        expect.objectContaining({ name: "accept", in: "header", required: false })
      )
      expect(status.responses["200"]!.content["text/html"]).toEqual({
        schema: { type: "string", description: "The status page." }
      })
      expect(status.responses["200"]!.content["application/json"]!.schema).toBeDefined()
    }))
})
