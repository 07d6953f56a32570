// The HTTP contract on healthy test layers, served by the same app main.ts runs, over real HTTP on loopback.
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServer from "@effect/platform/HttpServer"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Net from "node:net"
import { ApiLive } from "../../src/http/Http.js"
import { hasBadHost } from "../../src/http/Server.js"
import { Database } from "../../src/layers/Database.js"
import { Redis } from "../../src/layers/Redis.js"
import { Readiness } from "../../src/Readiness.js"
import { Status } from "../../src/Status.js"
import * as Raw from "../support/Raw.js"
import * as TestApp from "../support/TestApp.js"

const healthy = () =>
  Effect.tap(TestApp.serve({ database: Database.Test, redis: Redis.Test }), (app) => app.readiness.refresh)

describe("HTTP contract", () => {
  it.scopedLive("GET /healthz → 200 {\"status\":\"ok\"} as JSON", () =>
    Effect.gen(function*() {
      const app = yield* healthy()
      const probe = yield* app.request("/healthz")
      expect(probe.status).toBe(200)
      expect(probe.text).toBe("{\"status\":\"ok\"}")
      expect(probe.headers.get("content-type")).toBe("application/json")
      expect(probe.headers.get("cache-control")).toBe("no-store")
    }))

  it.scopedLive("/healthz touches no dependency: it answers at once while both checks hang", () =>
    Effect.gen(function*() {
      const app = yield* TestApp.serve({ database: Database.Hanging, redis: Redis.Hanging })
      for (let i = 0; i < 20; i++) {
        const probe = yield* app.request("/healthz")
        expect(probe.status).toBe(200)
        expect(probe.elapsedMs).toBeLessThan(250)
      }
    }))

  it.scopedLive("GET /readyz with every dependency usable → 200 ready, each check up with its latency", () =>
    Effect.gen(function*() {
      const app = yield* healthy()
      const probe = yield* app.ready
      expect(probe.status).toBe(200)
      expect(probe.headers.get("content-type")).toBe("application/json")
      expect(probe.body).toEqual({
        status: "ready",
        checkedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        checks: {
          database: { status: "up", latencyMs: expect.any(Number) },
          redis: { status: "up", latencyMs: expect.any(Number) }
        },
        ageMs: expect.any(Number)
      })
      expect(probe.body.ageMs).toBeGreaterThanOrEqual(0)
      expect(probe.body.ageMs).toBeLessThanOrEqual(1000)
    }))

  it.scopedLive("the Effect app's /readyz handler and the Node fast path answer the same report", () =>
    Effect.gen(function*() {
      const app = yield* healthy()
      const web = HttpApiBuilder.toWebHandler(
        Layer.mergeAll(ApiLive, HttpServer.layerContext).pipe(
          Layer.provide([
            Layer.succeed(Readiness, app.readiness),
            Layer.succeed(Status, app.status),
            TestApp.settings()
          ])
        )
      )
      yield* Effect.addFinalizer(() => Effect.promise(() => web.dispose()))
      const viaEffect = yield* Effect.promise(async () => {
        const response = await web.handler(new Request("http://localhost/readyz"))
        return { status: response.status, type: response.headers.get("content-type"), text: await response.text() }
      })
      const viaFastPath = yield* app.ready
      expect(viaEffect.status).toBe(200)
      expect(viaEffect.type).toBe("application/json")
      const withoutAge = (text: string) => text.replace(/,"ageMs":\d+}$/, "}")
      expect(withoutAge(viaEffect.text)).toBe(withoutAge(viaFastPath.text))
    }))

  it.scopedLive("a query string does not change a probe's answer", () =>
    Effect.gen(function*() {
      const app = yield* healthy()
      expect((yield* app.request("/healthz?verbose=1")).text).toBe("{\"status\":\"ok\"}")
      expect((yield* TestApp.decodeReport((yield* app.request("/readyz?x")).text)).status).toBe("ready")
    }))

  it.scopedLive("an unknown path → 404", () =>
    Effect.gen(function*() {
      const app = yield* healthy()
      expect((yield* app.request("/nope")).status).toBe(404)
      expect((yield* app.request("/healthz/extra")).status).toBe(404)
      expect((yield* app.request("/nope", { method: "POST" })).status).toBe(404)
    }))

  it.scopedLive.each(["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])(
    "%s on a probe or another fast route → 405 with Allow: GET, HEAD, not 500",
    (method) =>
      Effect.gen(function*() {
        const app = yield* healthy()
        // The probes, and the fast routes beside them: metrics and the status page's files.
        for (const path of ["/healthz", "/readyz", "/metrics", "/status/badge.svg", "/status/app.js"]) {
          const probe = yield* app.request(path, { method })
          expect(probe.status, path).toBe(405)
          expect(probe.headers.get("allow")).toBe("GET, HEAD")
        }
      })
  )

  it.scopedLive("HEAD on a probe answers like GET without a body", () =>
    Effect.gen(function*() {
      const app = yield* healthy()
      for (const path of ["/healthz", "/readyz"]) {
        const get = yield* app.request(path)
        const head = yield* app.request(path, { method: "HEAD" })
        expect(head.status).toBe(200)
        expect(head.text).toBe("")
        expect(head.headers.get("content-type")).toBe("application/json")
        expect(Number(head.headers.get("content-length"))).toBeGreaterThan(0)
        if (path === "/healthz") expect(head.headers.get("content-length")).toBe(get.headers.get("content-length"))
      }
    }))

  it.scopedLive("an absolute-form request target reaches the probe it names", () =>
    Effect.gen(function*() {
      const app = yield* healthy()
      for (
        const [target, expected] of [
          [`http://127.0.0.1:${app.port}/healthz`, "{\"status\":\"ok\"}"],
          [`HTTP://example.test/readyz?verbose`, "readyz check passed"],
          [`http://example.test/openapi.json`, "\"openapi\""]
        ] as const
      ) {
        const { received } = yield* Raw.exchange(
          app.port,
          `GET ${target} HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n`
        )
        expect(received).toMatch(/^HTTP\/1\.1 200 /)
        expect(received).toContain(expected)
      }
    }))

  it.scopedLive("GET /openapi.json describes both probes", () =>
    Effect.gen(function*() {
      const app = yield* healthy()
      const probe = yield* app.request("/openapi.json")
      expect(probe.status).toBe(200)
      const spec = probe.json as { paths: Record<string, unknown> }
      expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(["/healthz", "/readyz"]))
    }))

  it.scopedLive("many concurrent probes all get a complete answer", () =>
    Effect.gen(function*() {
      const app = yield* healthy()
      const probes = yield* Effect.all(
        Array.from({ length: 200 }, (_, i) => i % 2 === 0 ? app.request("/healthz") : app.request("/readyz")),
        { concurrency: 50 }
      )
      expect(probes.every((probe) => probe.status === 200 && probe.json !== undefined)).toBe(true)
    }))

  // The app's scope closes before the server's: a request still arriving then was answered 503 by the server
  // instead of by the app, although the server was still finishing its in-flight requests.
  it.scopedLive("a request to the app still arriving when the service stops is answered by the app in full", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const app = yield* Scope.extend(healthy(), scope)
      const socket = yield* Effect.acquireRelease(
        Effect.async<Net.Socket>((resume) => {
          const socket = Net.connect({ host: "127.0.0.1", port: app.port }, () => resume(Effect.succeed(socket)))
        }),
        (socket) => Effect.sync(() => socket.destroy())
      )
      const received = new Promise<string>((resolve) => {
        const chunks: Array<Buffer> = []
        socket.on("data", (chunk: Buffer) => chunks.push(chunk))
        socket.on("error", () => {})
        socket.on("close", () => resolve(Buffer.concat(chunks).toString("latin1")))
      })
      socket.write("GET /openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n")
      yield* Effect.sleep("50 millis")
      const stopping = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* Effect.sleep("200 millis")
      socket.write("\r\n")
      const parsed = Raw.parse(yield* Effect.promise(() => received))
      yield* Fiber.join(stopping)
      expect(parsed._tag).toBe("Responses")
      const [response] = parsed.responses
      expect(response?.status).toBe(200)
      expect(response?.headers["connection"]).toBe("close")
      expect(() => JSON.parse(response?.body ?? "")).not.toThrow()
    }))
})

describe("the Host header", () => {
  const bad = (...hosts: ReadonlyArray<string>) => {
    const rawHeaders = hosts.flatMap((host) => ["Host", host])
    return hasBadHost({ rawHeaders })
  }
  it.each(["example.test", "example.test:8080", "127.0.0.1:3000", "[::1]:3000", "[::1]", "a-b.c_d~e", "x:", "%41b"])(
    "%s is a valid authority",
    (host) => expect(bad(host)).toBe(false)
  )
  it.each(["a b", "x:99999", "a@b", "[::1", "%", "%4", "a/b", "a:b:c", "x:-1", "[zz]"])(
    "%s is answered 400",
    (host) => expect(bad(host)).toBe(true)
  )
  it("a missing Host is left to Node; a repeated one is a 400", () => {
    expect(bad()).toBe(false)
    expect(bad("a", "a")).toBe(true)
  })
})
