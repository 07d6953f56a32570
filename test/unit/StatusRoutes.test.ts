// The status page's fast routes over a Readiness service made for the test: the script and styles with their headers,
// and the badge, from a fresh snapshot at once and from an overdue one after one refresh.
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { type FastAnswer, type FastRequest, FastRoutes } from "../../src/http/Server.js"
import { badge } from "../../src/http/StatusBadge.js"
import { badgePath, prefersHtml, scriptPath, stylesPath, withStatusPageRoutes } from "../../src/http/StatusPage.js"
import { script } from "../../src/http/StatusPageScript.js"
import { styles } from "../../src/http/StatusPageStyles.js"
import { Readiness, type ReadinessService, type Snapshot } from "../../src/Readiness.js"

const ready: Snapshot = { status: "ready", checkedAt: 1_000, checks: { database: { status: "up", latencyMs: 1 } } }
const notReady: Snapshot = {
  status: "not ready",
  checkedAt: 2_000,
  checks: { database: { status: "down", latencyMs: 1, error: "timeout" } }
}

const routesWith = (fresh: boolean) =>
  Effect.gen(function*() {
    const calls = { refresh: 0 }
    const service: ReadinessService = {
      names: ["database"],
      rounds: Stream.empty,
      current: Effect.succeed(ready),
      refresh: Effect.succeed(notReady),
      unsafeFresh: () => fresh ? ready : undefined,
      unsafeRefresh: () => {
        calls.refresh += 1
        return Promise.resolve(notReady)
      }
    }
    const others = Layer.succeed(FastRoutes, new Map([["/healthz", () => ({ status: 200, headers: {}, body: "ok" })]]))
    const routes = Context.get(
      yield* Layer.build(withStatusPageRoutes(others).pipe(Layer.provide(Layer.succeed(Readiness, service)))),
      FastRoutes
    )
    return { routes, calls }
  })

const request = (path: string): FastRequest => ({
  method: "GET",
  path,
  query: "",
  headers: {},
  header: () => undefined
})
const answerOf =
  (routes: ReadonlyMap<string, (request: FastRequest) => FastAnswer | PromiseLike<FastAnswer>>) => (path: string) =>
    Effect.promise(() => Promise.resolve(routes.get(path)!(request(path))))

const security = { "x-content-type-options": "nosniff", "referrer-policy": "no-referrer" }

describe("the status page's fast routes", () => {
  it.scoped("keep the other routes, and serve the script and styles revalidated on each use", () =>
    Effect.gen(function*() {
      const { routes } = yield* routesWith(true)
      const answer = answerOf(routes)
      expect([...routes.keys()]).toEqual(["/healthz", scriptPath, stylesPath, badgePath])
      expect(yield* answer(scriptPath)).toEqual({
        status: 200,
        headers: { ...security, "content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache" },
        body: script
      })
      expect(yield* answer(stylesPath)).toEqual({
        status: 200,
        headers: { ...security, "content-type": "text/css; charset=utf-8", "cache-control": "no-cache" },
        body: styles
      })
    }))

  it.scoped("the badge: from a fresh snapshot at once, an SVG allowed to run nothing", () =>
    Effect.gen(function*() {
      const { calls, routes } = yield* routesWith(true)
      expect(yield* answerOf(routes)(badgePath)).toEqual({
        status: 200,
        headers: {
          ...security,
          "content-type": "image/svg+xml; charset=utf-8",
          "cache-control": "no-store",
          "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'"
        },
        body: badge("ready")
      })
      expect(calls.refresh).toBe(0)
    }))

  it.scoped("the badge: an overdue snapshot is refreshed once, and the refreshed state is drawn", () =>
    Effect.gen(function*() {
      const { calls, routes } = yield* routesWith(false)
      const answer = yield* answerOf(routes)(badgePath)
      expect(answer.body).toBe(badge("not ready"))
      expect(calls.refresh).toBe(1)
    }))
})

describe("content negotiation, parameter by parameter", () => {
  it("reads q wherever it stands among the parameters, and only q", () => {
    expect(prefersHtml("text/html;level=1, application/json;q=0.9")).toBe(true)
    expect(prefersHtml("text/html;q=0.9, application/json;q=0.5")).toBe(true)
    expect(prefersHtml("text/html;charset=utf-8;q=0.4, application/json;q=0.5")).toBe(false)
  })

  it("*/* rates what no more specific range names", () => {
    expect(prefersHtml("text/html;q=0.5, */*")).toBe(false)
    expect(prefersHtml("text/html, */*;q=0.5")).toBe(true)
    expect(prefersHtml("text/*;q=0.5, */*")).toBe(false)
  })
})
