// The Effect app alone (what answers whatever the fast path does not): the probes' handlers, 404 and 405 with Allow.
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServer from "@effect/platform/HttpServer"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { ApiLive, HttpLive } from "../../src/http/Http.js"
import { Database } from "../../src/layers/Database.js"
import { Redis } from "../../src/layers/Redis.js"
import { Readiness } from "../../src/Readiness.js"
import { Status } from "../../src/Status.js"
import * as TestApp from "../support/TestApp.js"

const webApp = (notReadyStatus: 200 | 503 = 200) =>
  Effect.gen(function*() {
    const app = yield* TestApp.serve({ database: Database.Test, redis: Redis.Unavailable("disk full") })
    yield* app.readiness.refresh
    const web = HttpApiBuilder.toWebHandler(
      Layer.mergeAll(ApiLive, HttpServer.layerContext).pipe(
        Layer.provide([
          Layer.succeed(Readiness, app.readiness),
          Layer.succeed(Status, app.status),
          TestApp.settings({ notReadyStatus })
        ])
      )
    )
    yield* Effect.addFinalizer(() => Effect.promise(() => web.dispose()))
    return (path: string, init?: RequestInit) =>
      Effect.promise(async () => {
        const response = await web.handler(new Request(`http://localhost${path}`, init))
        return { status: response.status, headers: response.headers, text: await response.text() }
      })
  })

describe("the Effect app's probe handlers", () => {
  it.scopedLive("/healthz and /livez: the health body, as JSON, not cached", () =>
    Effect.gen(function*() {
      const request = yield* webApp()
      for (const path of ["/healthz", "/livez"]) {
        const answer = yield* request(path)
        expect(answer.status).toBe(200)
        expect(answer.text).toBe("{\"status\":\"ok\"}")
        expect(answer.headers.get("content-type")).toBe("application/json")
        expect(answer.headers.get("cache-control")).toBe("no-store")
      }
    }))

  it.scopedLive("/readyz reads the query, the Accept header and the not-ready status, like the fast path", () =>
    Effect.gen(function*() {
      const request = yield* webApp(503)
      const verbose = yield* request("/readyz?verbose")
      expect(verbose.status).toBe(503)
      expect(verbose.text).toBe("[+]database ok\n[-]redis failed: disk full\nreadyz check failed\n")
      expect(verbose.headers.get("content-type")).toBe("text/plain; charset=utf-8")
      expect(verbose.headers.get("cache-control")).toBe("no-store")
      const health = yield* request("/readyz", { headers: { accept: "application/health+json" } })
      expect(health.headers.get("content-type")).toBe("application/health+json")
      expect(JSON.parse(health.text)).toMatchObject({ status: "fail" })
      expect((yield* request("/readyz?exclude=redis")).status).toBe(200)
      const database = yield* request("/readyz/database")
      expect(database.status).toBe(200)
      expect(Object.keys(JSON.parse(database.text).checks)).toEqual(["database"])
      expect((yield* request("/readyz/redis?verbose")).text).toBe("[-]redis failed: disk full\nreadyz check failed\n")
      expect((yield* request("/readyz/postgres")).status).toBe(404)
    }))
})

describe("the Effect app's 404 and 405", () => {
  it.scopedLive("each known path answers 405 with the methods it has; anything else is 404", () =>
    Effect.gen(function*() {
      const app = yield* TestApp.serve({ database: Database.Test, redis: Redis.Test })
      const allow = (path: string, method: string) =>
        Effect.map(app.request(path, { method }), (answer) => [answer.status, answer.headers.get("allow")])
      for (
        const path of ["/healthz", "/livez", "/readyz", "/readyz/database", "/readyz/redis", "/openapi.json", "/status"]
      ) {
        expect(yield* allow(path, "POST"), path).toEqual([405, "GET, HEAD"])
        expect(yield* allow(path, "PUT"), path).toEqual([405, "GET, HEAD"])
      }
      for (
        const path of [
          "/readyz/postgres",
          "/readyz/",
          "/readyzz",
          "/readyz_redis",
          "/readyz/database/x",
          "/",
          "/openapi"
        ]
      ) {
        expect(yield* allow(path, "POST"), path).toEqual([404, null])
      }
    }))

  it.effect("the served app is one layer", () => Effect.sync(() => expect(Layer.isLayer(HttpLive)).toBe(true)))
})
