// The status page's data and HTTP surface: the 15-minute uptime segments and the latency series on the test clock,
// content negotiation on GET /status, the page's assets and the badge, over HTTP on the app main.ts runs.
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as TestClock from "effect/TestClock"
import { badgeState } from "../../src/http/StatusBadge.js"
import { contentSecurityPolicy, prefersHtml } from "../../src/http/StatusPage.js"
import * as Chaos from "../../src/layers/Chaos.js"
import { Database } from "../../src/layers/Database.js"
import * as Dependency from "../../src/layers/Dependency.js"
import { Redis } from "../../src/layers/Redis.js"
import { type CheckResult, Readiness, type Round } from "../../src/Readiness.js"
import { Shutdown } from "../../src/Shutdown.js"
import { History, segmentsKept, Status } from "../../src/Status.js"
import * as TestApp from "../support/TestApp.js"

const minute = 60_000
const iso = (millis: number) => new Date(millis).toISOString()
const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"

const build = (database: Layer.Layer<Database>) =>
  Layer.build(
    Status.layer.pipe(
      Layer.provideMerge(
        Readiness.layer([Dependency.check(Database, database), Dependency.check(Redis, Redis.Test)]).pipe(
          Layer.provideMerge(TestApp.settings({ timeout: "500 millis", interval: "1 minute" }))
        )
      ),
      Layer.provideMerge(Shutdown.layer)
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

describe("the uptime segments on the test clock", () => {
  it.scoped("96 quarters of an hour, oldest first, each with the exact share of its observed time up", () =>
    Effect.gen(function*() {
      const state = yield* Ref.make(Chaos.up)
      const { readiness, status } = yield* build(Database.Switchable(state))
      yield* readiness.refresh
      // A round a minute: PostgreSQL reported down from 21:00 to 36:00, across two quarters.
      yield* TestClock.adjust("20 minutes")
      yield* Ref.set(state, Chaos.down("connection refused"))
      yield* TestClock.adjust("15 minutes")
      yield* Ref.set(state, Chaos.up)
      yield* TestClock.adjust("25 minutes")

      const uptime = (yield* status.report).dependencies.database!.uptime
      expect(uptime).toHaveLength(segmentsKept)
      expect(segmentsKept).toBe(96)
      // The last quarter is the one the last minute (59) falls in: 45-60.
      expect(uptime.slice(-4)).toEqual([
        { start: iso(0), availability: 1, observedSeconds: 900 },
        { start: iso(15 * minute), availability: 6 / 15, observedSeconds: 900 },
        { start: iso(30 * minute), availability: 9 / 15, observedSeconds: 900 },
        { start: iso(45 * minute), availability: 1, observedSeconds: 900 }
      ])
      // Before the service started, nothing was observed.
      expect(uptime[0]).toEqual({ start: iso(-95 * 15 * minute + 45 * minute), availability: null, observedSeconds: 0 })
      expect(uptime.slice(0, -4).every((segment) => segment.availability === null)).toBe(true)

      // A partly observed quarter counts only what was observed: 7 minutes into 60-75, all up.
      yield* TestClock.adjust("7 minutes")
      const later = (yield* status.report).dependencies.database!.uptime
      expect(later.at(-1)).toEqual({ start: iso(60 * minute), availability: 1, observedSeconds: 420 })
      expect(later.at(-4)).toEqual({ start: iso(15 * minute), availability: 6 / 15, observedSeconds: 900 })
    }))
})

describe("the uptime segments over days", () => {
  it("slide with the clock: a day later the downtime has left the bar, which still has 96 segments", () => {
    const history = new History(0)
    const day = 24 * 60 * minute
    // A round a minute for two days. PostgreSQL is reported down by the rounds at 1..20 minutes: down from 1:00 to
    // 21:00, the round at 21:00 being the first to see it up.
    const play = (from: number, to: number) => {
      for (let at = from; at <= to; at += minute) {
        const down = at >= minute && at <= 20 * minute
        history.record(round(at, {
          database: down ? { status: "down", latencyMs: 1, error: "timeout" } : { status: "up", latencyMs: 1 }
        }))
      }
    }
    play(0, day)
    const firstDay = history.report(day).dependencies.database!.uptime
    expect(firstDay).toHaveLength(96)
    expect(firstDay[0]!.start).toBe(iso(0))
    expect(firstDay.slice(0, 3).map((segment) => segment.availability)).toEqual([1 / 15, 9 / 15, 1])
    play(day + minute, 2 * day)
    const nextDay = history.report(2 * day).dependencies.database!.uptime
    expect(nextDay).toHaveLength(96)
    expect(nextDay[0]!.start).toBe(iso(day))
    expect(nextDay.every((segment) => segment.availability === 1 && segment.observedSeconds === 900)).toBe(true)
  })
})

describe("the latency series", () => {
  it("p50 and p99 per ten-second bucket over the last five minutes, aligned, empty buckets null", () => {
    const history = new History(0)
    const start = 10 * minute
    // Ten minutes ago, slow checks that must not show; then 10 samples in the bucket at start+20 s: 1..10 ms.
    for (let i = 0; i < 20; i++) history.record(round(i * 1000, { database: { status: "up", latencyMs: 400 } }))
    for (let i = 1; i <= 10; i++) {
      history.record(round(start + 20_000 + i * 900, { database: { status: "up", latencyMs: i } }))
    }
    const series = history.report(start + 55_000).dependencies.database!.latencySeries
    expect(series).toHaveLength(30)
    expect(series.at(-1)!.at).toBe(iso(start + 50_000))
    expect(series[0]!.at).toBe(iso(start + 50_000 - 29 * 10_000))
    const filled = series.filter((point) => point.samples > 0)
    expect(filled).toEqual([{ at: iso(start + 20_000), p50: 5, p99: 10, samples: 10 }])
    expect(series.find((point) => point.samples === 0)).toMatchObject({ p50: null, p99: null })
  })
})

describe("content negotiation", () => {
  it("HTML only when the client rates it above JSON", () => {
    expect(prefersHtml(browserAccept)).toBe(true)
    expect(prefersHtml("text/html")).toBe(true)
    expect(prefersHtml("text/*")).toBe(true)
    expect(prefersHtml(undefined)).toBe(false)
    expect(prefersHtml("")).toBe(false)
    expect(prefersHtml("*/*")).toBe(false)
    expect(prefersHtml("application/json")).toBe(false)
    expect(prefersHtml("application/json, text/html")).toBe(false)
    expect(prefersHtml("text/html;q=0.5, application/json")).toBe(false)
    expect(prefersHtml("text/html, application/json;q=0.9")).toBe(true)
    expect(prefersHtml("TEXT/HTML")).toBe(true)
    expect(prefersHtml("text/html;q=0")).toBe(false)
    expect(prefersHtml("text/html;q=abc")).toBe(false)
  })

  it.scopedLive("GET /status: the page to a browser, JSON otherwise, with Vary: Accept on both", () =>
    Effect.gen(function*() {
      const app = yield* TestApp.serve({ database: Database.Test, redis: Redis.Unavailable("timeout") })
      yield* app.readiness.refresh
      const page = yield* app.request("/status", { headers: { accept: browserAccept } })
      expect(page.status).toBe(200)
      expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8")
      expect(page.headers.get("content-security-policy")).toBe(contentSecurityPolicy)
      expect(page.headers.get("vary")).toBe("accept")
      expect(page.text).toMatch(/^<!doctype html>/)
      expect(page.text).toContain(`<script src="status/app.js" defer></script>`)
      // No inline script or style for the policy to block.
      expect(page.text).not.toMatch(/<script>|<style|style=/)

      for (const accept of [undefined, "*/*", "application/json"]) {
        const json = yield* app.request("/status", accept === undefined ? {} : { headers: { accept } })
        expect(json.status, String(accept)).toBe(200)
        expect(json.headers.get("content-type"), String(accept)).toContain("application/json")
        expect(json.headers.get("vary")).toBe("accept")
        expect(json.json).toMatchObject({ status: "not ready", dependencies: { redis: { error: "timeout" } } })
      }

      const spec = (yield* app.request("/openapi.json")).json as {
        paths: Record<string, { get: { responses: Record<string, { content: Record<string, unknown> }> } }>
      }
      expect(Object.keys(spec.paths["/status"]!.get.responses["200"]!.content).sort())
        .toEqual(["application/json", "text/html"])
    }))

  it.scopedLive("the script, styles and badge are served, HEAD too; the badge follows readiness", () =>
    Effect.gen(function*() {
      const state = yield* Ref.make(Chaos.up)
      const app = yield* TestApp.serve({ database: Database.Switchable(state), redis: Redis.Test })
      yield* app.readiness.refresh
      const script = yield* app.request("/status/app.js")
      expect(script.headers.get("content-type")).toBe("text/javascript; charset=utf-8")
      expect(script.text).toContain("status")
      expect(script.text.length).toBeGreaterThan(1000)
      const styles = yield* app.request("/status/app.css")
      expect(styles.headers.get("content-type")).toBe("text/css; charset=utf-8")
      expect(styles.text).toContain("prefers-color-scheme: dark")
      const head = yield* app.request("/status/app.js", { method: "HEAD" })
      expect(head.status).toBe(200)
      expect(head.text).toBe("")

      let badge = yield* app.request("/status/badge.svg")
      expect(badge.headers.get("content-type")).toBe("image/svg+xml; charset=utf-8")
      expect(badge.headers.get("cache-control")).toBe("no-store")
      expect(badge.text).toContain("<title>readiness: ready</title>")
      expect(badge.text).toContain("#2e7d32")
      yield* Ref.set(state, Chaos.down("authentication failed"))
      yield* app.readiness.refresh
      badge = yield* app.request("/status/badge.svg")
      expect(badge.text).toContain("<title>readiness: not ready</title>")
      expect(badge.text).toContain("#c62828")
      expect(badge.text).not.toMatch(/authentication|127\.0\.0\.1|postgres/)
    }))

  it("the badge says shutting down when every check is down for that reason", () => {
    const down = { status: "down", latencyMs: 0, error: "shutting down" } as const
    expect(badgeState({ status: "not ready", checkedAt: 0, checks: { database: down, redis: down } }))
      .toBe("shutting down")
    expect(
      badgeState({
        status: "not ready",
        checkedAt: 0,
        checks: { database: down, redis: { ...down, error: "timeout" } }
      })
    )
      .toBe("not ready")
    expect(badgeState({ status: "ready", checkedAt: 0, checks: { database: { status: "up", latencyMs: 1 } } }))
      .toBe("ready")
  })
})
