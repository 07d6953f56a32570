// The probe surface orchestrators and load balancers use: Kubernetes names and per-check paths, `?exclude`,
// `?verbose`, the IETF health format, the 503 mode and flap damping, all served from the snapshot.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import * as Chaos from "../../src/layers/Chaos.js"
import { Database } from "../../src/layers/Database.js"
import { Redis } from "../../src/layers/Redis.js"
import { damp } from "../../src/Readiness.js"
import * as Raw from "../support/Raw.js"
import * as TestApp from "../support/TestApp.js"

const serveWith = (
  redis = Redis.Unavailable("connection refused"),
  settings: Partial<Parameters<typeof TestApp.settings>[0]> = {}
) =>
  Effect.tap(
    TestApp.serve({ database: Database.Test, redis, settings: TestApp.settings(settings) }),
    (app) => app.readiness.refresh
  )

describe("probe paths", () => {
  it.scopedLive("/livez answers like /healthz, GET and HEAD", () =>
    Effect.gen(function*() {
      const app = yield* serveWith()
      const livez = yield* app.request("/livez")
      expect(livez.status).toBe(200)
      expect(livez.text).toBe((yield* app.request("/healthz")).text)
      expect((yield* app.request("/livez", { method: "HEAD" })).status).toBe(200)
      expect((yield* app.request("/livez", { method: "POST" })).status).toBe(405)
    }))

  it.scopedLive("/readyz/<check> reports that check alone; an unknown check is 404", () =>
    Effect.gen(function*() {
      const app = yield* serveWith()
      const database = yield* app.request("/readyz/database")
      expect(database.status).toBe(200)
      expect(database.json).toMatchObject({ status: "ready", checks: { database: { status: "up" } } })
      expect(Object.keys((database.json as { checks: object }).checks)).toEqual(["database"])
      const redis = yield* app.request("/readyz/redis")
      expect(redis.json).toMatchObject({
        status: "not ready",
        checks: { redis: { status: "down", error: "connection refused" } }
      })
      expect((yield* app.request("/readyz/postgres")).status).toBe(404)
      expect((yield* app.request("/readyz/database/x")).status).toBe(404)
      const wrongMethod = yield* app.request("/readyz/redis", { method: "DELETE" })
      expect(wrongMethod.status).toBe(405)
      expect(wrongMethod.headers.get("allow")).toBe("GET, HEAD")
    }))

  it.scopedLive("?exclude leaves checks out of the verdict and the body; unknown names are ignored", () =>
    Effect.gen(function*() {
      const app = yield* serveWith()
      const excluded = yield* app.request("/readyz?exclude=redis")
      expect(excluded.json).toMatchObject({ status: "ready", checks: { database: { status: "up" } } })
      expect(Object.keys((excluded.json as { checks: object }).checks)).toEqual(["database"])
      const unknown = yield* app.request("/readyz?exclude=nothing&exclude=else")
      expect(unknown.json).toMatchObject({ status: "not ready" })
      const both = yield* app.request("/readyz?exclude=redis&exclude=database")
      expect(both.json).toMatchObject({ status: "ready", checks: {} })
    }))

  it.scopedLive("?verbose answers the Kubernetes plain-text form", () =>
    Effect.gen(function*() {
      const app = yield* serveWith()
      const verbose = yield* app.request("/readyz?verbose")
      expect(verbose.headers.get("content-type")).toBe("text/plain; charset=utf-8")
      expect(verbose.text).toBe("[+]database ok\n[-]redis failed: connection refused\nreadyz check failed\n")
      const excluded = yield* app.request("/readyz?verbose&exclude=redis")
      expect(excluded.text).toBe("[+]database ok\n[+]redis excluded: ok\nreadyz check passed\n")
      expect((yield* app.request("/readyz/database?verbose")).text).toBe("[+]database ok\nreadyz check passed\n")
    }))

  it.scopedLive("Accept: application/health+json answers the IETF health check format", () =>
    Effect.gen(function*() {
      const app = yield* serveWith()
      const probe = yield* app.request("/readyz", { headers: { accept: "application/health+json" } })
      expect(probe.headers.get("content-type")).toBe("application/health+json")
      expect(probe.json).toEqual({
        status: "fail",
        description: "dashboard readiness",
        checks: {
          "database:responseTime": [{
            componentType: "datastore",
            observedValue: expect.any(Number),
            observedUnit: "ms",
            status: "pass",
            time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/)
          }],
          "redis:responseTime": [{
            componentType: "datastore",
            observedValue: expect.any(Number),
            observedUnit: "ms",
            status: "fail",
            time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
            output: "connection refused"
          }]
        }
      })
      const refused = yield* app.request("/readyz", { headers: { accept: "application/health+json;q=0, */*" } })
      expect(refused.headers.get("content-type")).toBe("application/json")
      const plain = yield* app.request("/readyz", { headers: { accept: "application/json" } })
      expect(plain.json).toMatchObject({ status: "not ready" })
    }))

  it.scopedLive("the Accept header is found by its name among headers of the same length, in any case", () =>
    Effect.gen(function*() {
      const app = yield* serveWith()
      const contentType = (headers: string) =>
        Effect.map(
          Raw.exchange(app.port, `GET /readyz HTTP/1.1\r\nHost: h\r\n${headers}Connection: close\r\n\r\n`),
          ({ received }) => Raw.parse(received).responses[0]?.headers["content-type"]
        )
      expect(yield* contentType("Pragma: no-cache\r\nACCEPT: application/health+json\r\n")).toBe(
        "application/health+json"
      )
      expect(yield* contentType("Accept-Language: en\r\nPragma: application/health+json\r\n")).toBe(
        "application/json"
      )
    }))
})

describe("READYZ_NOT_READY_STATUS", () => {
  it.scopedLive("200 by default: not ready is a 200 with the body", () =>
    Effect.gen(function*() {
      const app = yield* serveWith()
      expect((yield* app.request("/readyz")).status).toBe(200)
      expect((yield* app.request("/readyz/redis")).status).toBe(200)
    }))

  it.scopedLive("503: not ready is a 503 with the same body, on every readiness path and form", () =>
    Effect.gen(function*() {
      const app = yield* serveWith(undefined, { notReadyStatus: 503 })
      const probe = yield* app.request("/readyz")
      expect(probe.status).toBe(503)
      expect(probe.json).toMatchObject({ status: "not ready" })
      expect((yield* app.request("/readyz", { method: "HEAD" })).status).toBe(503)
      expect((yield* app.request("/readyz/redis")).status).toBe(503)
      expect((yield* app.request("/readyz/database")).status).toBe(200)
      expect((yield* app.request("/readyz?exclude=redis")).status).toBe(200)
      expect((yield* app.request("/readyz?verbose")).status).toBe(503)
      expect((yield* app.request("/healthz")).status).toBe(200)
    }))
})

describe("flap damping", () => {
  const thresholds = { failureThreshold: 3, successThreshold: 2 }
  const up = { status: "up", latencyMs: 1 } as const
  const down = { status: "down", latencyMs: 1, error: "timeout" } as const

  it("the reported state changes only after enough consecutive rounds agree; the body says what the round saw", () => {
    let state = damp(undefined, up, thresholds)
    expect(state.result).toEqual(up)
    state = damp(state, down, thresholds)
    expect(state.result).toEqual({ ...down, status: "up", observed: "down" })
    state = damp(state, down, thresholds)
    expect(state.result.status).toBe("up")
    state = damp(state, down, thresholds)
    expect(state.result).toEqual(down)
    state = damp(state, up, thresholds)
    expect(state.result).toEqual({ ...up, status: "down", observed: "up" })
    state = damp(state, up, thresholds)
    expect(state.result).toEqual(up)
  })

  it("a streak broken by one round of the reported state starts over", () => {
    let state = damp(undefined, up, thresholds)
    state = damp(state, down, thresholds)
    state = damp(state, down, thresholds)
    state = damp(state, up, thresholds)
    state = damp(state, down, thresholds)
    state = damp(state, down, thresholds)
    expect(state.result.status).toBe("up")
    state = damp(state, down, thresholds)
    expect(state.result.status).toBe("down")
  })

  it("a round that agrees with the reported state is reported as it is, without an observed field", () => {
    let state = damp(undefined, up, thresholds)
    for (let i = 0; i < 3; i++) {
      state = damp(state, up, thresholds)
      expect(state.result).toEqual(up)
    }
  })

  it("thresholds of 1 report every round as it is (today's behaviour)", () => {
    const once = { failureThreshold: 1, successThreshold: 1 }
    let state = damp(undefined, up, once)
    for (const next of [down, up, down, down, up]) {
      state = damp(state, next, once)
      expect(state.result).toEqual(next)
    }
  })

  it.scopedLive("over HTTP: one failed round does not take a damped check out of rotation", () =>
    Effect.gen(function*() {
      const redisState = yield* Ref.make(Chaos.up)
      const app = yield* serveWith(Redis.Switchable(redisState), {
        failureThreshold: 2,
        successThreshold: 1,
        // No background round: each refresh below is exactly one round.
        interval: "1 hour"
      })
      yield* Ref.set(redisState, Chaos.down("timeout"))
      yield* app.readiness.refresh
      const first = yield* app.request("/readyz")
      expect(first.json).toMatchObject({
        status: "ready",
        checks: { redis: { status: "up", observed: "down", error: "timeout" } }
      })
      yield* app.readiness.refresh
      expect((yield* app.request("/readyz")).json).toMatchObject({
        status: "not ready",
        checks: { redis: { status: "down", error: "timeout" } }
      })
    }))
})
