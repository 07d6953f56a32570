// The listener on its own, as main.ts opens it before the app is loaded: liveness answers, readiness fails closed,
// and everything else is a 503 until the app attaches its routes and handler.
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Net from "node:net"
import * as Edge from "../../src/Edge.js"
import { Listener } from "../../src/http/Listener.js"
import { bootRoutes } from "../../src/http/Liveness.js"
import { Shutdown } from "../../src/Shutdown.js"
import * as Raw from "../support/Raw.js"
import * as TestApp from "../support/TestApp.js"

const open = (notReadyStatus: 200 | 503, shutdownTimeout: Duration.DurationInput = "4 seconds") =>
  Effect.map(
    Layer.build(
      Edge.make(
        Listener.layer({ port: 0, host: "127.0.0.1", bootRoutes: bootRoutes(notReadyStatus, () => 0) }),
        TestApp.shutdownSettings({ timeout: shutdownTimeout })
      )
    ),
    (context) => ({ ...Context.get(context, Listener), shutdown: Context.get(context, Shutdown) })
  )

const get = (listener: Pick<Listener["Type"], "address">, path: string, method = "GET") =>
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

  it.scopedLive("the app gets an absolute-form target in origin-form, and its answers are counted by path", () =>
    Effect.gen(function*() {
      const listener = yield* open(200)
      const seen: Array<string> = []
      const counted: Array<string> = []
      listener.serveApp((request, response) => {
        seen.push(request.url ?? "")
        response.writeHead(request.url === "/missing" ? 404 : 200, { "content-length": 0 }).end()
      }, (path) => (status) => counted.push(`${path} ${status}`))
      const send = (target: string) =>
        Effect.map(
          Raw.exchange(listener.address.port, `GET ${target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`),
          ({ received }) => received.slice(0, 12)
        )
      expect(yield* send("http://h/other?x=1")).toBe("HTTP/1.1 200")
      expect(yield* send("http://h/other")).toBe("HTTP/1.1 200")
      expect(yield* send("/plain?y")).toBe("HTTP/1.1 200")
      expect(yield* send("/missing")).toBe("HTTP/1.1 404")
      // `*` is no path: it is handed over as it came.
      expect(yield* send("*")).toBe("HTTP/1.1 200")
      expect(seen).toEqual(["/other?x=1", "/other", "/plain?y", "/missing", "*"])
      expect(counted).toEqual(["/other 200", "/other 200", "/plain 200", "/missing 404", "* 200"])
    }))

  it.scopedLive("while shutting down, the app's answers close their connection too", () =>
    Effect.gen(function*() {
      const listener = yield* open(200)
      listener.serveApp((_, response) => response.writeHead(200, { "content-length": 0 }).end())
      const connectionOf = Effect.map(
        Raw.exchange(listener.address.port, "GET /other HTTP/1.1\r\nHost: h\r\n\r\n"),
        ({ received }) => Raw.parse(received).responses[0]?.headers.connection
      )
      expect(yield* connectionOf).not.toBe("close")
      yield* listener.shutdown.begin
      expect(yield* connectionOf).toBe("close")
    }))

  it.scopedLive("close waits for a request in flight, and cuts it when the shutdown timeout nears", () =>
    Effect.gen(function*() {
      // A 400 ms timeout leaves the pool and the client 200 ms: connections still open at 200 ms are cut.
      const listener = yield* open(200, "400 millis")
      const arrived: Array<string> = []
      listener.serveApp((request) => void arrived.push(request.url ?? ""))
      // A client that keeps its side open, waiting for the answer.
      const socket = Net.connect(listener.address.port, "127.0.0.1")
      const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()))
      socket.on("error", () => {})
      socket.write("GET /stuck HTTP/1.1\r\nHost: h\r\n\r\n")
      yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))
      while (arrived.length === 0) yield* Effect.sleep("5 millis")
      const [elapsed] = yield* Effect.timed(listener.close)
      expect(Duration.toMillis(elapsed)).toBeGreaterThanOrEqual(190)
      expect(Duration.toMillis(elapsed)).toBeLessThan(3_000)
      yield* Effect.promise(() => closed)
    }))

  it.scopedLive("a prefix route answers the paths under it, an exact route wins, and the longest prefix first", () =>
    Effect.gen(function*() {
      const listener = yield* open(200)
      const answer = (body: string) => () => ({ status: 200, headers: {}, body })
      listener.serveRoutes(
        new Map([
          ["/a/*", answer("a")],
          ["/a/b/*", answer("ab")],
          ["/a/exact", answer("exact")]
        ])
      )
      listener.serveApp((_, response) => response.writeHead(204).end())
      expect(yield* get(listener, "/a/x")).toEqual({ status: 200, text: "a" })
      expect(yield* get(listener, "/a/b/x")).toEqual({ status: 200, text: "ab" })
      expect(yield* get(listener, "/a/exact")).toEqual({ status: 200, text: "exact" })
      expect(yield* get(listener, "/a/b/x", "HEAD")).toEqual({ status: 200, text: "" })
      // The prefix itself, and a path that merely starts with its letters, are not under it.
      expect((yield* get(listener, "/a/")).status).toBe(204)
      expect((yield* get(listener, "/ab")).status).toBe(204)
      expect((yield* get(listener, "/a/x", "POST")).status).toBe(204)
    }))
})
