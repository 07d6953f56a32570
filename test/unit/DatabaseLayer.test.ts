// The live Database layer without a PostgreSQL: a closed port, a socket that never answers, and a few lines of the
// PostgreSQL wire protocol on loopback (startup, a query, an error), enough to see what the pool does with its
// connections. The real server is the integration suite's.
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Tracer from "effect/Tracer"
import * as Net from "node:net"
import { Database } from "../../src/layers/Database.js"
import { freePort } from "../support/Service.js"

type Mode =
  | { readonly _tag: "answer" }
  | { readonly _tag: "swallowQueries" }
  | { readonly _tag: "silent" }
  | { readonly _tag: "refuse"; readonly code: string; readonly message: string }

const message = (type: string, body: Buffer) => {
  const head = Buffer.alloc(5)
  head.write(type, 0, "latin1")
  head.writeInt32BE(body.length + 4, 1)
  return Buffer.concat([head, body])
}
const int32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeInt32BE(n)
  return b
}
const cstring = (s: string) => Buffer.from(`${s}\0`, "utf8")
const readyForQuery = message("Z", Buffer.from("I"))
const errorResponse = (code: string, text: string) =>
  message(
    "E",
    Buffer.concat([
      Buffer.from("S"),
      cstring("FATAL"),
      Buffer.from("C"),
      cstring(code),
      Buffer.from("M"),
      cstring(text),
      Buffer.from([0])
    ])
  )

/** A loopback peer speaking just enough PostgreSQL; it records each connection's startup parameters and state. */
const fakePostgres = (initial: Mode) =>
  Effect.acquireRelease(
    Effect.async<{
      readonly port: number
      readonly connections: Array<{ readonly parameters: Record<string, string>; closed: boolean }>
      readonly queries: { count: number; readonly texts: Array<string> }
      mode: Mode
      /** Ends every open connection as PostgreSQL does when it shuts down (57P01, then the socket closes). */
      readonly terminateAll: () => void
    }>((resume) => {
      const state = {
        port: 0,
        connections: [] as Array<{ parameters: Record<string, string>; closed: boolean }>,
        queries: { count: 0, texts: [] as Array<string> },
        mode: initial,
        terminateAll: () => {
          for (const socket of sockets) {
            socket.end(errorResponse("57P01", "terminating connection due to administrator command"))
          }
        }
      }
      const sockets = new Set<Net.Socket>()
      const server = Net.createServer((socket) => {
        sockets.add(socket)
        const connection = { parameters: {} as Record<string, string>, closed: false }
        state.connections.push(connection)
        socket.on("close", () => (connection.closed = true))
        socket.on("error", () => {})
        let buffer = Buffer.alloc(0)
        let started = false
        socket.on("data", (chunk: Buffer) => {
          buffer = Buffer.concat([buffer, chunk])
          while (true) {
            if (!started) {
              if (buffer.length < 4 || buffer.length < buffer.readInt32BE(0)) return
              const length = buffer.readInt32BE(0)
              const fields = buffer.subarray(8, length).toString("utf8").split("\0")
              for (let i = 0; i + 1 < fields.length; i += 2) {
                if (fields[i] !== "") connection.parameters[fields[i]!] = fields[i + 1]!
              }
              buffer = buffer.subarray(length)
              started = true
              const mode = state.mode
              if (mode._tag === "silent") return
              if (mode._tag === "refuse") {
                socket.end(errorResponse(mode.code, mode.message))
                return
              }
              socket.write(Buffer.concat([message("R", int32(0)), readyForQuery]))
              continue
            }
            if (buffer.length < 5 || buffer.length < 1 + buffer.readInt32BE(1)) return
            const type = String.fromCharCode(buffer[0]!)
            const body = buffer.subarray(5, 1 + buffer.readInt32BE(1))
            buffer = buffer.subarray(1 + buffer.readInt32BE(1))
            // The query text: a simple Query's body, or a Parse's after the statement name.
            if (type === "Q") state.queries.texts.push(body.toString("utf8").split("\0")[0]!)
            if (type === "P") state.queries.texts.push(body.toString("utf8").split("\0")[1]!)
            if (type === "X") return void socket.end()
            if (type !== "Q" && type !== "S") continue
            state.queries.count += 1
            if (state.mode._tag !== "answer") continue
            const done = message("C", cstring("SELECT 1"))
            socket.write(
              type === "Q"
                ? Buffer.concat([done, readyForQuery])
                : Buffer.concat([
                  message("1", Buffer.alloc(0)),
                  message("2", Buffer.alloc(0)),
                  message("n", Buffer.alloc(0)),
                  done,
                  readyForQuery
                ])
            )
          }
        })
      })
      server.listen(0, "127.0.0.1", () => {
        state.port = (server.address() as Net.AddressInfo).port
        resume(Effect.succeed(Object.assign(state, { server, sockets })))
      })
    }),
    (state) =>
      Effect.async<void>((resume) => {
        const server = (state as unknown as { server: Net.Server }).server
        server.close(() => resume(Effect.void))
        for (const socket of (state as unknown as { sockets: Set<Net.Socket> }).sockets) socket.destroy()
      })
  )

const database = (
  port: number,
  options: { readonly timeout?: number; readonly maxConnections?: number; readonly idleTimeout?: number } = {}
) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(
      Database.layer({
        url: Redacted.make(`postgres://postgres:secret@127.0.0.1:${port}/postgres`),
        timeout: options.timeout ?? 300,
        ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
        ...(options.idleTimeout === undefined ? {} : { idleTimeout: options.idleTimeout })
      }),
      scope
    )
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    return { ping: Context.get(context, Database).ping, close: Scope.close(scope, Exit.void) }
  })

const reason = <E extends { readonly reason: string }>(effect: Effect.Effect<void, E>) =>
  Effect.map(Effect.flip(effect), (error) => error.reason)

describe("the live Database layer, without PostgreSQL", () => {
  it.scopedLive("is built without touching the network, and a closed port is connection refused", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const { ping } = yield* database(port)
      expect(yield* reason(ping)).toBe("connection refused")
    }))

  it.scopedLive("pings with SELECT 1, as application dashboard, over one reused connection", () =>
    Effect.gen(function*() {
      const server = yield* fakePostgres({ _tag: "answer" })
      const { close, ping } = yield* database(server.port)
      yield* ping
      yield* ping
      yield* ping
      expect(server.queries.count).toBe(3)
      expect(server.queries.texts).toEqual(["SELECT 1", "SELECT 1", "SELECT 1"])
      expect(server.connections).toHaveLength(1)
      expect(server.connections[0]!.parameters).toMatchObject({ user: "postgres", application_name: "dashboard" })
      // Closing the layer ends the pool: its connection is closed.
      yield* close
      yield* Effect.sleep("50 millis")
      expect(server.connections[0]!.closed).toBe(true)
    }))

  it.scopedLive("a server that never answers the startup is timeout, within the budget", () =>
    Effect.gen(function*() {
      const server = yield* fakePostgres({ _tag: "silent" })
      const { ping } = yield* database(server.port, { timeout: 200 })
      const [elapsed, why] = yield* Effect.timed(reason(ping))
      expect(why).toBe("timeout")
      expect(Duration.toMillis(elapsed)).toBeGreaterThanOrEqual(190)
      expect(Duration.toMillis(elapsed)).toBeLessThan(1_500)
    }))

  it.scopedLive("a query that never ends is timeout, and its connection is destroyed rather than reused", () =>
    Effect.gen(function*() {
      const server = yield* fakePostgres({ _tag: "swallowQueries" })
      const { ping } = yield* database(server.port, { timeout: 200 })
      expect(yield* reason(ping)).toBe("timeout")
      yield* Effect.sleep("100 millis")
      expect(server.connections).toHaveLength(1)
      expect(server.connections[0]!.closed).toBe(true)
      server.mode = { _tag: "answer" }
      yield* ping
      expect(server.connections).toHaveLength(2)
      expect(server.connections[1]!.closed).toBe(false)
    }))

  it.scopedLive("the pool holds at most maxConnections, 10 unless told", () =>
    Effect.gen(function*() {
      const server = yield* fakePostgres({ _tag: "swallowQueries" })
      const bounded = yield* database(server.port, { timeout: 400, maxConnections: 2 })
      yield* Effect.all(Array.from({ length: 5 }, () => Effect.either(bounded.ping)), { concurrency: "unbounded" })
      expect(server.connections.length).toBe(2)
      const other = yield* fakePostgres({ _tag: "swallowQueries" })
      const byDefault = yield* database(other.port, { timeout: 400 })
      yield* Effect.all(Array.from({ length: 12 }, () => Effect.either(byDefault.ping)), { concurrency: "unbounded" })
      expect(other.connections.length).toBe(10)
    }))

  it.scopedLive.each<[string, string, string]>([
    ["28P01", "password authentication failed for user \"postgres\"", "authentication failed"],
    ["53300", "sorry, too many clients already", "too many connections"],
    ["3D000", "database \"postgres\" does not exist", "database not found"],
    ["57P03", "the database system is starting up", "loading"]
  ])("a server that refuses with %s is %s → %s", ([code, text, expected]) =>
    Effect.gen(function*() {
      const server = yield* fakePostgres({ _tag: "refuse", code, message: text })
      const { ping } = yield* database(server.port)
      expect(yield* reason(ping)).toBe(expected)
    }))

  it.scopedLive("PostgreSQL ending an idle connection (a restart) costs nothing: the next check connects anew", () =>
    Effect.gen(function*() {
      // Without the pool's 'error' listener, the idle connection's error would be an uncaught exception.
      const uncaught: Array<unknown> = []
      const onUncaught = (error: unknown) => void uncaught.push(error)
      yield* Effect.acquireRelease(
        Effect.sync(() => process.on("uncaughtException", onUncaught)),
        () => Effect.sync(() => process.off("uncaughtException", onUncaught))
      )
      const server = yield* fakePostgres({ _tag: "answer" })
      const { ping } = yield* database(server.port)
      yield* ping
      server.terminateAll()
      yield* Effect.sleep("100 millis")
      expect(server.connections[0]!.closed).toBe(true)
      expect(uncaught).toEqual([])
      yield* ping
      expect(server.connections).toHaveLength(2)
    }))

  it.scopedLive("an idle connection is closed after idleTimeout, 10 s unless told", () =>
    Effect.gen(function*() {
      const server = yield* fakePostgres({ _tag: "answer" })
      const { ping } = yield* database(server.port, { idleTimeout: 100 })
      yield* ping
      const other = yield* fakePostgres({ _tag: "answer" })
      const byDefault = yield* database(other.port)
      yield* byDefault.ping
      yield* Effect.sleep("600 millis")
      expect(server.connections[0]!.closed).toBe(true)
      expect(other.connections[0]!.closed).toBe(false)
    }))

  it.scopedLive("each check is a span named Database.ping", () =>
    Effect.gen(function*() {
      const server = yield* fakePostgres({ _tag: "answer" })
      const { ping } = yield* database(server.port)
      const names: Array<string> = []
      const tracer = yield* Effect.tracer
      yield* ping.pipe(Effect.withTracer(Tracer.make({
        span: (name, ...rest) => {
          names.push(name)
          return tracer.span(name, ...rest)
        },
        context: tracer.context
      })))
      expect(names).toContain("Database.ping")
    }))

  it.effect("the failing statics: NotInitialised reads not initialised", () =>
    Effect.gen(function*() {
      expect(Database.checkName).toBe("database")
      expect(yield* reason(Database.NotInitialised.ping)).toBe("not initialised")
    }))
})
