// The chaos kit's layers as the chaos suite relies on them, and the OpenAPI document of the probes.
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as TestClock from "effect/TestClock"
import * as Tracer from "effect/Tracer"
import * as Chaos from "../../src/layers/Chaos.js"
import { Database } from "../../src/layers/Database.js"
import { Redis } from "../../src/layers/Redis.js"
import * as TestApp from "../support/TestApp.js"

const ping = (layer: Layer.Layer<Redis>) => Effect.flatMap(Redis, (redis) => redis.ping).pipe(Effect.provide(layer))

describe("the chaos kit", () => {
  it.effect("Unavailable fails with connection refused unless told; Slow passes after its delay", () =>
    Effect.gen(function*() {
      expect(yield* Effect.flip(ping(Redis.Unavailable()))).toMatchObject({ reason: "connection refused" })
      expect(yield* Effect.flip(ping(Redis.Unavailable("disk full")))).toMatchObject({ reason: "disk full" })
      const slow = yield* Effect.fork(ping(Redis.Slow("70 millis")))
      yield* TestClock.adjust("69 millis")
      expect(slow.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(slow)
      yield* ping(Redis.Test)
    }))

  it.effect("Dying dies with a defect that names a bug, and FailingConstruction cannot be built", () =>
    Effect.gen(function*() {
      const died = yield* Effect.exit(ping(Redis.Dying))
      expect(Exit.isFailure(died) && Cause.pretty(died.cause)).toContain("chaos: a bug inside the check")
      const built = yield* Effect.exit(Layer.build(Database.FailingConstruction).pipe(Effect.scoped))
      expect(Exit.isFailure(built) && Cause.pretty(built.cause)).toContain("chaos: the client constructor threw")
    }))

  it.effect("Switchable follows its switch on every check", () =>
    Effect.gen(function*() {
      const state = yield* Ref.make(Chaos.up)
      const layer = Redis.Switchable(state)
      yield* ping(layer)
      yield* Ref.set(state, Chaos.down("loading"))
      expect(yield* Effect.flip(ping(layer))).toMatchObject({ _tag: "RedisUnavailable", reason: "loading" })
      yield* Ref.set(state, Chaos.up)
      yield* ping(layer)
    }))
})

describe("the OpenAPI document", () => {
  it.scopedLive("describes every probe, with what it touches and how it answers", () =>
    Effect.gen(function*() {
      const app = yield* TestApp.serve({ database: Database.Test, redis: Redis.Test })
      const spec = (yield* app.request("/openapi.json")).json as {
        info: { title: string }
        paths: Record<string, { get: { description: string; responses: Record<string, unknown> } }>
      }
      expect(spec.info.title).toBe("dashboard")
      expect(Object.keys(spec.paths)).toEqual(["/healthz", "/livez", "/readyz", "/readyz/{name}", "/status"])
      expect(spec.paths["/healthz"]!.get.description).toBe(
        "Liveness: 200 while the process is alive. Touches no dependency."
      )
      expect(spec.paths["/livez"]!.get.description).toBe(
        "Liveness under its Kubernetes name: the same answer as /healthz."
      )
      expect(spec.paths["/readyz"]!.get.description).toBe(
        "Readiness: 200 while alive (503 when not ready with READYZ_NOT_READY_STATUS=503); `status` says whether " +
          "every dependency is usable now. `?exclude=name` leaves a check out, `?verbose` answers the Kubernetes " +
          "plain-text form, `Accept: application/health+json` the IETF health check format."
      )
      expect(spec.paths["/readyz/{name}"]!.get.description).toBe(
        "Readiness of one check (`database`, `redis`); 404 for an unknown check."
      )
      expect(Object.keys(spec.paths["/readyz/{name}"]!.get.responses)).toContain("404")
      const parameters = (path: string) =>
        (spec.paths[path]!.get as unknown as { parameters: Array<{ name: string; in: string }> }).parameters.map((p) =>
          `${p.in}:${p.name}`
        )
      expect(parameters("/readyz")).toEqual(["query:exclude", "query:verbose"])
      expect(parameters("/readyz/{name}")).toEqual(["path:name", "query:exclude", "query:verbose"])
    }))

  it.scopedLive("its schemas are the answers' shapes, field by field", () =>
    Effect.gen(function*() {
      const app = yield* TestApp.serve({ database: Database.Test, redis: Redis.Test })
      const spec = (yield* app.request("/openapi.json")).json as {
        paths: Record<string, { get: { parameters?: unknown; responses: Record<string, unknown> } }>
      }
      const success = (path: string) =>
        (spec.paths[path]!.get.responses["200"] as { content: Record<string, { schema: unknown }> })
          .content["application/json"]!.schema
      const checkStatus = { type: "string", enum: ["up", "down"] }
      const report = {
        type: "object",
        required: ["status", "checkedAt", "checks", "ageMs"],
        properties: {
          status: { type: "string", enum: ["ready", "not ready"] },
          checkedAt: { type: "string" },
          checks: {
            type: "object",
            additionalProperties: {
              type: "object",
              required: ["status", "latencyMs"],
              properties: {
                status: checkStatus,
                latencyMs: { type: "number" },
                error: { type: "string", enum: expect.arrayContaining(["connection refused", "timeout"]) },
                observed: checkStatus
              }
            }
          },
          tenants: {
            type: "object",
            required: ["up", "down", "not initialised"],
            properties: { up: { type: "number" }, down: { type: "number" }, "not initialised": { type: "number" } }
          },
          ageMs: { type: "number" }
        }
      }
      expect(success("/readyz")).toMatchObject(report)
      expect(success("/readyz/{name}")).toMatchObject(report)
      const health = { type: "object", required: ["status"], properties: { status: { type: "string", enum: ["ok"] } } }
      expect(success("/healthz")).toMatchObject(health)
      expect(success("/livez")).toMatchObject(health)
      expect(spec.paths["/readyz"]!.get.parameters).toMatchObject([
        { name: "exclude", in: "query", required: false, schema: { anyOf: [{ type: "string" }, { type: "array" }] } },
        { name: "verbose", in: "query", required: false, schema: { type: "string" } }
      ])
    }))
})

describe("tracing", () => {
  it.scopedLive("requests the Effect app serves carry a span, except the probes'", () =>
    Effect.gen(function*() {
      const native = yield* Effect.tracer
      const spans: Array<string> = []
      const counting = Tracer.make({
        span: (name, ...rest) => {
          if (name.startsWith("http.server")) spans.push(name)
          return native.span(name, ...rest)
        },
        context: (f, fiber) => native.context(f, fiber)
      })
      const app = yield* Effect.withTracer(TestApp.serve({ database: Database.Test, redis: Redis.Test }), counting)
      // Probes asked with another method reach the Effect app, and are probes still.
      for (const path of ["/healthz", "/livez", "/readyz", "/readyz/database"]) {
        expect((yield* app.request(path, { method: "POST" })).status).toBe(405)
      }
      expect(spans).toEqual([])
      expect((yield* app.request("/nope")).status).toBe(404)
      expect((yield* app.request("/openapi.json")).status).toBe(200)
      expect(spans).toEqual(["http.server GET", "http.server GET"])
    }))
})
