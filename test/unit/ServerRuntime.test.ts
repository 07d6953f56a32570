// The Node server around the fast routes, with routes made for the test: what it writes, how it fails, what it does
// while shutting down, and that its limits are the ones it was given.
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Edge from "../../src/Edge.js"
import { Listener } from "../../src/http/Listener.js"
import * as Server from "../../src/http/Server.js"
import { Shutdown } from "../../src/Shutdown.js"
import * as Observe from "../support/Observe.js"
import * as Raw from "../support/Raw.js"
import { hold } from "../support/Sockets.js"
import * as TestApp from "../support/TestApp.js"

const routes = new Map<string, Server.FastRoute>([
  ["/sync", (request) => ({
    status: 201,
    headers: { "content-type": "text/plain", "x-query": request.query, "x-method": request.method },
    body: "héllo"
  })],
  ["/async", () => Promise.resolve({ status: 202, headers: { "content-type": "text/plain" }, body: "later" })],
  [
    "/late",
    () => new Promise((resolve) => setTimeout(() => resolve({ status: 200, headers: {}, body: "too late" }), 100))
  ],
  ["/late-rejects", () => new Promise((_, reject) => setTimeout(() => reject(new Error("interrupted")), 100))],
  ["/rejects", () => Promise.reject(new Error("interrupted"))],
  ["/throws", () => {
    throw new RangeError("a bug")
  }]
])

const serve = (limits: Partial<Server.Limits> = {}, app?: HttpApp.Default) =>
  Effect.gen(function*() {
    const server = Server.layer.pipe(
      Layer.provideMerge(Layer.succeed(Server.FastRoutes, routes)),
      Layer.provideMerge(
        Edge.make(Listener.layer({ port: 0, host: "127.0.0.1", limits }), TestApp.shutdownSettings())
      )
    )
    const context = yield* Layer.build(
      app === undefined ? server : Layer.provideMerge(HttpServer.serve(app), server)
    )
    const address = Context.get(context, HttpServer.HttpServer).address
    if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("expected a TCP address")
    expect(address.hostname).toBe("127.0.0.1")
    return { port: address.port, shutdown: Context.get(context, Shutdown) }
  })

const get = (port: number, target: string, method = "GET", headers = "") =>
  Effect.map(
    Raw.exchange(port, `${method} ${target} HTTP/1.1\r\nHost: h\r\n${headers}\r\n`, 2_000),
    ({ received }) => {
      const parsed = Raw.parse(received, { head: method === "HEAD" })
      if (parsed._tag !== "Responses") throw new Error(parsed.reason)
      return { ...parsed.responses[0]!, raw: received }
    }
  )

describe("the server's fast path", () => {
  it.scopedLive("writes the route's answer with its byte length; HEAD without the body", () =>
    Effect.gen(function*() {
      const { port } = yield* serve()
      const answer = yield* get(port, "/sync?a=1")
      expect(answer.status).toBe(201)
      expect(answer.body).toBe(Buffer.from("héllo").toString("latin1"))
      expect(answer.headers).toMatchObject({
        "content-type": "text/plain",
        "content-length": "6",
        "x-query": "a=1",
        "x-method": "GET"
      })
      expect(answer.headers.connection).not.toBe("close")
      const head = yield* get(port, "/sync", "HEAD")
      expect(head.status).toBe(201)
      expect(head.headers).toMatchObject({ "content-length": "6", "x-method": "HEAD", "x-query": "" })
      expect(head.raw.endsWith("\r\n\r\n")).toBe(true)
      expect((yield* get(port, "http://h/async")).body).toBe("later")
    }))

  it.scopedLive("a route that rejects is a 503 and one that throws a 500, both closing the connection", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      const { port } = yield* serve()
      const rejected = yield* get(port, "/rejects")
      expect(rejected.status).toBe(503)
      expect(rejected.headers).toMatchObject({ connection: "close", "content-length": "0" })
      const thrown = yield* get(port, "/throws")
      expect(thrown.status).toBe(500)
      expect(thrown.headers).toMatchObject({ connection: "close", "content-length": "0" })
      yield* Effect.sleep("20 millis")
      expect(lines).toEqual(["ERROR request handler threw; answered 500 RangeError"])
    }).pipe(
      Effect.provide(Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ annotations, logLevel, message }) =>
          lines.push(
            `${logLevel.label} ${String(Array.isArray(message) ? message[0] : message)} ${
              String([...annotations].find(([key]) => key === "error")?.[1])
            }`
          )
        )
      ))
    )
  })

  it.scopedLive("a path it has no route for, or a method other than GET and HEAD, waits for the app: 503 until then", () =>
    Effect.gen(function*() {
      const { port } = yield* serve()
      expect((yield* get(port, "/other")).status).toBe(503)
      expect((yield* get(port, "/sync", "POST", "Content-Length: 0\r\n")).status).toBe(503)
      expect((yield* get(port, "/sync", "OPTIONS")).status).toBe(503)
    }))

  it.scopedLive("without a request counter, the app's answers are served and counting them throws nothing", () =>
    Effect.gen(function*() {
      const uncaught = yield* Observe.uncaughtExceptions
      const { port } = yield* serve({}, HttpServerResponse.text("from the app"))
      const answer = yield* get(port, "/other")
      expect([answer.status, answer.body]).toEqual([200, "from the app"])
      expect((yield* get(port, "/sync")).status).toBe(201)
      yield* Effect.sleep("20 millis")
      expect(uncaught).toEqual([])
    }))

  it.scopedLive("a bad Host is a 400 before any route", () =>
    Effect.gen(function*() {
      const { port } = yield* serve()
      const answer = yield* Effect.map(
        Raw.exchange(port, "GET /sync HTTP/1.1\r\nHost: a b\r\n\r\n"),
        ({ received }) => received
      )
      expect(answer).toMatch(/^HTTP\/1\.1 400 /)
    }))

  it.scopedLive("while shutting down, every answer closes its connection", () =>
    Effect.gen(function*() {
      const { port, shutdown } = yield* serve()
      yield* shutdown.begin
      const sync = yield* get(port, "/sync")
      expect([sync.status, sync.headers.connection]).toEqual([201, "close"])
      const async = yield* get(port, "/async")
      expect([async.status, async.headers.connection]).toEqual([202, "close"])
      expect((yield* get(port, "/other")).headers.connection).toBe("close")
    }))

  it.scopedLive("an answer that comes after its client hung up is dropped, and nothing is thrown", () =>
    Effect.gen(function*() {
      const uncaught = yield* Observe.uncaughtExceptions
      const { port } = yield* serve()
      for (const path of ["/late", "/late-rejects"]) {
        const [client] = yield* hold(port, 1)
        client!.socket.write(`GET ${path} HTTP/1.1\r\nHost: h\r\n\r\n`)
        yield* Effect.sleep("20 millis")
        client!.socket.destroy()
      }
      yield* Effect.sleep("250 millis")
      expect(uncaught).toEqual([])
      expect((yield* get(port, "/sync")).status).toBe(201)
    }))

  it.scopedLive("the limits it is given are the ones it keeps: a larger header block is a 431", () =>
    Effect.gen(function*() {
      const { port } = yield* serve({ maxHeaderSize: 2_048 })
      expect((yield* get(port, "/sync", "GET", `X-Big: ${"a".repeat(1_500)}\r\n`)).status).toBe(201)
      const { received } = yield* Raw.exchange(
        port,
        `GET /sync HTTP/1.1\r\nHost: h\r\nX-Big: ${"a".repeat(3_000)}\r\n\r\n`
      )
      expect(received).toMatch(/^HTTP\/1\.1 431 /)
      const byDefault = yield* serve()
      expect((yield* get(byDefault.port, "/sync", "GET", `X-Big: ${"a".repeat(12_000)}\r\n`)).status).toBe(201)
    }))

  it.scopedLive("a port already taken fails the listener with a ListenError", () =>
    Effect.gen(function*() {
      const { port } = yield* serve()
      const exit = yield* Effect.exit(
        Layer.build(Edge.make(Listener.layer({ port, host: "127.0.0.1" }), TestApp.shutdownSettings()))
      )
      expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" && exit.cause.error._tag).toBe("ListenError")
      expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" && exit.cause.error.cause).toMatchObject({
        code: "EADDRINUSE"
      })
    }))
})
