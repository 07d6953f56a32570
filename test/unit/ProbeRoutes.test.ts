// The probes as fast routes, over a Readiness service made for the test: which paths exist, what each answers from a
// fresh snapshot, and that an overdue one is refreshed first (one round) before it is answered.
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { ProbeRoutesLive, readinessBody } from "../../src/http/Probes.js"
import { type FastRequest, FastRoutes } from "../../src/http/Server.js"
import { Readiness, type ReadinessService, type Snapshot } from "../../src/Readiness.js"
import * as TestApp from "../support/TestApp.js"

const stale: Snapshot = {
  status: "ready",
  checkedAt: 1_000,
  checks: { database: { status: "up", latencyMs: 1 }, redis: { status: "up", latencyMs: 2 } }
}
const refreshed: Snapshot = {
  status: "not ready",
  checkedAt: 9_000,
  checks: { database: { status: "up", latencyMs: 1 }, redis: { status: "down", latencyMs: 2, error: "loading" } }
}

const routesWith = (fresh: boolean, notReadyStatus: 200 | 503 = 503) =>
  Effect.gen(function*() {
    const calls = { fresh: [] as Array<number>, refresh: 0 }
    const service: ReadinessService = {
      names: ["database", "redis"],
      rounds: Stream.empty,
      current: Effect.succeed(stale),
      refresh: Effect.succeed(refreshed),
      unsafeFresh: (now) => {
        calls.fresh.push(now)
        return fresh ? stale : undefined
      },
      unsafeRefresh: () => {
        calls.refresh += 1
        return Promise.resolve(refreshed)
      }
    }
    const routes = Context.get(
      yield* Layer.build(
        ProbeRoutesLive.pipe(Layer.provide([Layer.succeed(Readiness, service), TestApp.settings({ notReadyStatus })]))
      ),
      FastRoutes
    )
    return { routes, calls }
  })

const request = (path: string, query = ""): FastRequest => ({
  method: "GET",
  path,
  query,
  headers: {},
  header: () => undefined
})

describe("the probe routes", () => {
  it.scoped("exist for liveness, readiness and each check, and nothing else", () =>
    Effect.gen(function*() {
      const { routes } = yield* routesWith(true)
      expect([...routes.keys()]).toEqual(["/healthz", "/livez", "/readyz", "/readyz/database", "/readyz/redis"])
      for (const path of ["/healthz", "/livez"]) {
        expect(routes.get(path)!(request(path))).toEqual({
          status: 200,
          headers: { "content-type": "application/json", "cache-control": "no-store" },
          body: "{\"status\":\"ok\"}"
        })
      }
    }))

  it.scoped("a fresh snapshot is answered at once, its age read from the layer's clock", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_250)
      const { calls, routes } = yield* routesWith(true)
      const answer = routes.get("/readyz")!(request("/readyz"))
      expect(answer).toEqual({
        status: 200,
        headers: { "content-type": "application/json", "cache-control": "no-store" },
        body: readinessBody(stale, 1_250)
      })
      expect(calls).toEqual({ fresh: [1_250], refresh: 0 })
      const one = routes.get("/readyz/redis")!(request("/readyz/redis", "verbose"))
      expect(one).toMatchObject({ status: 200, body: "[+]redis ok\nreadyz check passed\n" })
    }))

  it.scoped("an overdue snapshot is refreshed first, and the refreshed one is answered", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(9_004)
      const { calls, routes } = yield* routesWith(false)
      const answer = yield* Effect.promise(() => Promise.resolve(routes.get("/readyz")!(request("/readyz"))))
      expect(answer).toEqual({
        status: 503,
        headers: { "content-type": "application/json", "cache-control": "no-store" },
        body: readinessBody(refreshed, 9_004)
      })
      expect(calls.refresh).toBe(1)
      const database = yield* Effect.promise(() =>
        Promise.resolve(routes.get("/readyz/database")!(request("/readyz/database")))
      )
      expect(database.status).toBe(200)
      expect(JSON.parse(database.body).checks).toEqual({ database: { status: "up", latencyMs: 1 } })
    }))
})
