// The live Redis layer without a Redis: a closed port, and a few lines of RESP on loopback that answer PING, refuse
// AUTH or SELECT, hang, or hang up, enough to see what the client does with its connection. The real server is the
// integration suite's.
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Net from "node:net"
import { Redis } from "../../src/layers/Redis.js"
import { freePort } from "../support/Service.js"

type Mode = "answer" | "hang" | "hangUp"

interface FakeRedis {
  readonly port: number
  readonly connections: Array<{ readonly commands: Array<string>; closed: boolean }>
  mode: Mode
  /** Replies to a command by name, instead of the mode's answer. */
  readonly replies: Map<string, string>
}

/** Splits RESP arrays of bulk strings into commands; returns the commands and what is left over. */
const parse = (buffer: string): { readonly commands: Array<Array<string>>; readonly rest: string } => {
  const commands: Array<Array<string>> = []
  let at = 0
  outer: while (at < buffer.length) {
    const header = /^\*(\d+)\r\n/.exec(buffer.slice(at))
    if (header === null) break
    let cursor = at + header[0].length
    const args: Array<string> = []
    for (let i = 0; i < Number(header[1]); i++) {
      const bulk = /^\$(\d+)\r\n/.exec(buffer.slice(cursor))
      if (bulk === null || buffer.length < cursor + bulk[0].length + Number(bulk[1]) + 2) break outer
      cursor += bulk[0].length
      args.push(buffer.slice(cursor, cursor + Number(bulk[1])))
      cursor += Number(bulk[1]) + 2
    }
    commands.push(args)
    at = cursor
  }
  return { commands, rest: buffer.slice(at) }
}

const fakeRedis = (initial: Mode = "answer") =>
  Effect.acquireRelease(
    Effect.async<FakeRedis & { readonly server: Net.Server; readonly sockets: Set<Net.Socket> }>((resume) => {
      const state = { port: 0, connections: [] as FakeRedis["connections"], mode: initial, replies: new Map() }
      const sockets = new Set<Net.Socket>()
      const server = Net.createServer((socket) => {
        sockets.add(socket)
        const connection = { commands: [] as Array<string>, closed: false }
        state.connections.push(connection)
        socket.on("close", () => (connection.closed = true))
        socket.on("error", () => {})
        let buffer = ""
        socket.on("data", (chunk: Buffer) => {
          const { commands, rest } = parse(buffer + chunk.toString("latin1"))
          buffer = rest
          for (const [name = "", ...args] of commands) {
            connection.commands.push([name.toUpperCase(), ...args].join(" "))
            const reply = state.replies.get(name.toUpperCase())
            if (reply !== undefined) socket.write(reply)
            else if (state.mode === "hangUp") socket.destroy()
            else if (state.mode === "answer") {
              socket.write(name.toUpperCase() === "PING" ? "+PONG\r\n" : "+OK\r\n")
              if (name.toUpperCase() === "QUIT") socket.end()
            }
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
        state.server.close(() => resume(Effect.void))
        for (const socket of state.sockets) socket.destroy()
      })
  )

const redis = (url: string, timeout = 300) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(Redis.layer({ url: Redacted.make(url), timeout }), scope)
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    return { ping: Context.get(context, Redis).ping, close: Scope.close(scope, Exit.void) }
  })

const reason = <E extends { readonly reason: string }>(effect: Effect.Effect<void, E>) =>
  Effect.map(Effect.flip(effect), (error) => error.reason)

const millis = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.map(Effect.timed(effect), ([elapsed, a]) => [Duration.toMillis(elapsed), a] as const)

describe("the live Redis layer, without Redis", () => {
  it.scopedLive("is built without touching the network, and a closed port is connection refused", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const { ping } = yield* redis(`redis://127.0.0.1:${port}`)
      expect(yield* reason(ping)).toBe("connection refused")
      // While it is down, each round says why at once.
      const [elapsed, again] = yield* millis(reason(ping))
      expect(again).toBe("connection refused")
      expect(elapsed).toBeLessThan(100)
    }))

  it.scopedLive("a URL ioredis cannot use is not initialised, before any connection", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(redis("redis://127.0.0.1:1/abc"))
      expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" && exit.cause.error.reason).toBe("not initialised")
    }))

  it.scopedLive("pings with PING alone on one connection: no CLIENT SETINFO, no INFO, and QUIT on release", () =>
    Effect.gen(function*() {
      const server = yield* fakeRedis()
      const { close, ping } = yield* redis(`redis://127.0.0.1:${server.port}`)
      yield* ping
      yield* ping
      expect(server.connections).toHaveLength(1)
      expect(server.connections[0]!.commands).toEqual(["PING", "PING"])
      yield* close
      yield* Effect.sleep("50 millis")
      expect(server.connections[0]!.commands).toEqual(["PING", "PING", "QUIT"])
      expect(server.connections[0]!.closed).toBe(true)
    }))

  it.scopedLive("a PING that is not answered is timeout at the budget; the connection is dropped and made anew", () =>
    Effect.gen(function*() {
      const server = yield* fakeRedis()
      const { ping } = yield* redis(`redis://127.0.0.1:${server.port}`, 200)
      yield* ping
      server.mode = "hang"
      const [elapsed, why] = yield* millis(reason(ping))
      expect(why).toBe("timeout")
      expect(elapsed).toBeGreaterThanOrEqual(190)
      expect(elapsed).toBeLessThan(1_000)
      yield* Effect.sleep("50 millis")
      expect(server.connections[0]!.closed).toBe(true)
      server.mode = "answer"
      // Reconnected in the background, 50 ms after the failure.
      yield* Effect.sleep("300 millis")
      yield* ping
      expect(server.connections).toHaveLength(2)
      expect(server.connections[1]!.commands).toEqual(["PING"])
    }))

  it.scopedLive("a server that hangs up under the PING is connection closed, and reconnected to", () =>
    Effect.gen(function*() {
      const server = yield* fakeRedis()
      const { ping } = yield* redis(`redis://127.0.0.1:${server.port}`)
      yield* ping
      server.mode = "hangUp"
      expect(yield* reason(ping)).toBe("connection closed")
      server.mode = "answer"
      yield* Effect.sleep("300 millis")
      yield* ping
      expect(server.connections.length).toBeGreaterThanOrEqual(2)
    }))

  it.scopedLive("a refused password is authentication failed, and the client does not retry it on its own", () =>
    Effect.gen(function*() {
      const server = yield* fakeRedis()
      server.replies.set("AUTH", "-WRONGPASS invalid username-password pair or user is disabled.\r\n")
      const { ping } = yield* redis(`redis://:wrong@127.0.0.1:${server.port}`)
      expect(yield* reason(ping)).toBe("authentication failed")
      yield* Effect.sleep("500 millis")
      expect(server.connections).toHaveLength(1)
      expect(server.connections[0]!.closed).toBe(true)
      // Each round tries once more.
      expect(yield* reason(ping)).toBe("authentication failed")
      expect(server.connections).toHaveLength(2)
      // The next round, once the refused connection is closed.
      yield* Effect.sleep("100 millis")
      expect(server.connections[1]!.closed).toBe(true)
      server.replies.delete("AUTH")
      yield* ping
      expect(server.connections).toHaveLength(3)
      expect(server.connections[2]!.commands).toEqual(["AUTH wrong", "PING"])
    }))

  it.scopedLive("a database the server does not have is database not found, though PING itself would pass", () =>
    Effect.gen(function*() {
      const server = yield* fakeRedis()
      server.replies.set("SELECT", "-ERR DB index is out of range\r\n")
      const { ping } = yield* redis(`redis://127.0.0.1:${server.port}/7`)
      expect(yield* reason(ping)).toBe("database not found")
      expect(server.connections[0]!.commands).toEqual(["SELECT 7", "PING"])
      expect(yield* reason(ping)).toBe("database not found")
    }))

  it.scopedLive("a server that is loading is loading, and is retried as a network failure would be", () =>
    Effect.gen(function*() {
      const server = yield* fakeRedis()
      server.replies.set("PING", "-LOADING Redis is loading the dataset in memory\r\n")
      const { ping } = yield* redis(`redis://127.0.0.1:${server.port}`)
      expect(yield* reason(ping)).toBe("loading")
      server.replies.delete("PING")
      yield* ping
    }))

  it.effect("the failing statics: NotInitialised reads not initialised", () =>
    Effect.gen(function*() {
      expect(Redis.checkName).toBe("redis")
      expect(yield* reason(Redis.NotInitialised.ping)).toBe("not initialised")
    }))
})
