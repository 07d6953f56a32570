// The listener on its own, as main.ts opens it before the app is loaded: liveness answers, readiness fails closed,
// and everything else is a 503 until the app attaches its routes and handler.
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Edge from "../../src/Edge.js"
import { Listener } from "../../src/http/Listener.js"
import { bootRoutes } from "../../src/http/Liveness.js"
import * as TestApp from "../support/TestApp.js"

const open = (notReadyStatus: 200 | 503) =>
  Effect.map(
    Layer.build(
      Edge.make(
        Listener.layer({ port: 0, host: "127.0.0.1", bootRoutes: bootRoutes(notReadyStatus, () => 0) }),
        TestApp.shutdownSettings()
      )
    ),
    (context) => Context.get(context, Listener)
  )

const get = (listener: Listener["Type"], path: string, method = "GET") =>
  Effect.promise(async () => {
    const response = await fetch(`http://127.0.0.1:${listener.address.port}${path}`, { method })
    return { status: response.status, text: await response.text() }
  })

describe("the listener before the app is attached", () => {
  it.scopedLive("liveness answers 200; readiness is not ready with no check; anything else is 503", () =>
    Effect.gen(function*() {
      const listener = yield* open(200)
      expect(yield* get(listener, "/healthz")).toEqual({ status: 200, text: "{\"status\":\"ok\"}" })
      expect(yield* get(listener, "/livez")).toEqual({ status: 200, text: "{\"status\":\"ok\"}" })
      expect(yield* get(listener, "/healthz", "HEAD")).toEqual({ status: 200, text: "" })
      expect(yield* get(listener, "/readyz")).toEqual({
        status: 200,
        text: "{\"status\":\"not ready\",\"checkedAt\":\"1970-01-01T00:00:00.000Z\",\"checks\":{},\"ageMs\":0}"
      })
      expect((yield* get(listener, "/openapi.json")).status).toBe(503)
      expect((yield* get(listener, "/healthz", "POST")).status).toBe(503)
    }))

  it.scopedLive("in the 503 mode, readiness before the app is a 503", () =>
    Effect.gen(function*() {
      expect((yield* get(yield* open(503), "/readyz")).status).toBe(503)
    }))

  it.scopedLive("once the app serves, its routes replace the boot routes", () =>
    Effect.gen(function*() {
      const listener = yield* open(200)
      listener.serveRoutes(new Map([["/readyz", () => ({ status: 200, headers: {}, body: "app" })]]))
      listener.serveApp((_, response) => response.writeHead(204).end())
      expect(yield* get(listener, "/readyz")).toEqual({ status: 200, text: "app" })
      expect((yield* get(listener, "/healthz")).status).toBe(204)
      expect((yield* get(listener, "/openapi.json")).status).toBe(204)
    }))
})
