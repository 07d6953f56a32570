// The live Redis layer without a Redis: a closed port, and a few lines of RESP on loopback that answer PING, refuse
// AUTH or SELECT, hang, or hang up, enough to see what the client does with its connection. The real server is the
// integration suite's.
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Net from "node:net"
import { performance } from "node:perf_hooks"
import { Redis, type RedisOptions } from "../../src/layers/Redis.js"
import { spanNames } from "../support/Observe.js"
import { freePort } from "../support/Service.js"

/**
 * `slam` closes every connection as soon as it is accepted, alternately with a FIN and a reset (`slamWith` picks one),
 * as a Redis that restarts over and over would. `deaf` is `hang` on a path that also loses the client's FIN: a
 * connection that has met it never closes its side, so only a client that destroys its socket is rid of it.
 */
type Mode = "answer" | "hang" | "hangUp" | "slam" | "deaf"

interface Connection {
  readonly commands: Array<string>
  closed: boolean
  /** `performance.now()` when the server accepted it. */
  readonly openedAt: number
}

interface FakeRedis {
  readonly port: number
  readonly connections: Array<Connection>
  mode: Mode
  /** How `slam` closes a connection: alternately, or always one way. */
  slamWith: "alternate" | "fin" | "reset"
  /** Replies to a command by name, instead of the mode's answer. */
  readonly replies: Map<string, string>
  /** Stops accepting: the port is closed from now on (open connections stay). */
  readonly stopListening: () => void
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

const answerOf = (name: string) => name === "PING" ? "+PONG\r\n" : name === "EXISTS" ? ":0\r\n" : "+OK\r\n"

const fakeRedis = (initial: Mode = "answer", port = 0) =>
  Effect.acquireRelease(
    Effect.async<FakeRedis & { readonly server: Net.Server; readonly sockets: Set<Net.Socket> }>((resume) => {
      const sockets = new Set<Net.Socket>()
      const server = Net.createServer({ allowHalfOpen: true }, (socket) => {
        sockets.add(socket)
        const connection: Connection = { commands: [], closed: false, openedAt: performance.now() }
        state.connections.push(connection)
        socket.on("close", () => (connection.closed = true))
        socket.on("error", () => {})
        if (state.mode === "slam") {
          const reset = state.slamWith === "reset" ||
            (state.slamWith === "alternate" && state.connections.length % 2 === 0)
          // Once the client has had time to call the connection ready, so that a reset reaches it as an error.
          setTimeout(() => reset ? socket.resetAndDestroy() : socket.end(), 5)
          return
        }
        let buffer = ""
        let deaf = false
        socket.on("end", () => deaf || socket.end())
        socket.on("data", (chunk: Buffer) => {
          if (state.mode === "deaf") deaf = true
          const { commands, rest } = parse(buffer + chunk.toString("latin1"))
          buffer = rest
          for (const [name = "", ...args] of commands) {
            const command = name.toUpperCase()
            connection.commands.push([command, ...args].join(" "))
            if (deaf) continue
            const reply = state.replies.get(command)
            if (reply !== undefined) socket.write(reply)
            else if (state.mode === "hangUp") socket.destroy()
            else if (state.mode === "answer") {
              socket.write(answerOf(command))
              if (command === "QUIT") socket.end()
            }
          }
        })
      })
      const state = {
        port: 0,
        connections: [] as Array<Connection>,
        mode: initial,
        slamWith: "alternate" as FakeRedis["slamWith"],
        replies: new Map<string, string>(),
        stopListening: () => void server.close(),
        server,
        sockets
      }
      server.listen(port, "127.0.0.1", () => {
        state.port = (server.address() as Net.AddressInfo).port
        resume(Effect.succeed(state))
      })
    }),
    (state) =>
      Effect.async<void>((resume) => {
        state.server.close(() => resume(Effect.void))
        for (const socket of state.sockets) socket.destroy()
      })
  )

const redis = (
  url: string,
  options: number | Partial<Omit<RedisOptions, "url">> = {}
) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const layer = Redis.layer({
      url: Redacted.make(url),
      timeout: 300,
      ...(typeof options === "number" ? { timeout: options } : options)
    })
    const context = yield* Layer.buildWithScope(layer, scope)
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    return { ping: Context.get(context, Redis).ping, close: Scope.close(scope, Exit.void) }
  })

/** Waits, polling, until `condition` holds (the test's own timeout bounds it). */
const until = (condition: () => boolean) =>
  Effect.gen(function*() {
    while (!condition()) yield* Effect.sleep("5 millis")
  })

const reason = <E extends { readonly reason: string }>(effect: Effect.Effect<void, E>) =>
  Effect.map(Effect.flip(effect), (error) => error.reason)

/** A client whose Redis closed its first five connections with a FIN: the pause before the next try is 250 ms. */
const afterFiveClosedConnections = Effect.gen(function*() {
  const server = yield* fakeRedis("slam")
  server.slamWith = "fin"
  const { ping } = yield* redis(`redis://127.0.0.1:${server.port}`, { timeout: 1_000, maxReconnectDelay: 1_000 })
  yield* until(() => server.connections.length >= 5 && server.connections[4]!.closed)
  return { ping, server }
})

/** The time between one connection's opening and the next's, in ms. */
const pausesBetweenConnections = (server: FakeRedis): ReadonlyArray<number> => {
  const opened = server.connections.map((connection) => connection.openedAt)
  return opened.slice(1).map((at, i) => at - opened[i]!)
}

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
      // The cause says which variable and what is wrong with it (the URL itself is never repeated).
      const cause = Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error.cause : undefined
      expect(cause).toBeInstanceOf(Error)
      expect((cause as Error).message).toMatch(/^REDIS_URL \S/)
      expect((cause as Error).message).not.toContain("127.0.0.1")
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
      const [elapsed, error] = yield* millis(Effect.flip(ping))
      expect(error.reason).toBe("timeout")
      expect(error.cause).toMatchObject({ code: "ETIMEDOUT", message: "Redis did not answer within 200 ms" })
      expect(elapsed).toBeGreaterThanOrEqual(190)
      expect(elapsed).toBeLessThan(1_000)
      yield* Effect.sleep("50 millis")
      expect(server.connections[0]!.closed).toBe(true)
      server.mode = "answer"
      // Reconnected in the background, 50 ms after the failure, before any check asks.
      yield* Effect.sleep("300 millis")
      expect(server.connections).toHaveLength(2)
      yield* ping
      expect(server.connections).toHaveLength(2)
      expect(server.connections[1]!.commands).toEqual(["PING"])
      // The timeout is forgotten once the new connection is up: a later failure reports its own reason.
      server.mode = "hangUp"
      expect(yield* reason(ping)).toBe("connection closed")
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
      // ioredis itself would go on using the connection: the layer closes it, and does not open another on its own.
      yield* Effect.sleep("300 millis")
      expect(server.connections).toHaveLength(1)
      expect(server.connections[0]!.closed).toBe(true)
      // Each round tries once more.
      expect(yield* reason(ping)).toBe("database not found")
      expect(server.connections).toHaveLength(2)
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

  it.scopedLive("a Redis that closes every connection is retried on its own, the pause growing by 50 ms to the cap", () =>
    Effect.gen(function*() {
      const server = yield* fakeRedis("slam")
      yield* redis(`redis://127.0.0.1:${server.port}`, { maxReconnectDelay: 300 })
      // Pauses of 50, 100, 150, 200, 250, 300, 300 ms: eight connections in 1.35 s, with no check asking for any.
      yield* Effect.sleep("1500 millis")
      expect(server.connections.length).toBeGreaterThanOrEqual(5)
      const pauses = pausesBetweenConnections(server)
      pauses.forEach((pause, i) => expect(pause).toBeGreaterThanOrEqual(Math.min(50 * (i + 1), 300) - 5))
      // The first pauses are short (300 ms for three), not the cap's (900 ms).
      expect(pauses[0]! + pauses[1]! + pauses[2]!).toBeLessThan(700)
    }))

  it.scopedLive("while Redis is down, a check reports the last failure at once instead of waiting for the next try", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const { ping } = yield* redis(`redis://127.0.0.1:${port}`, { timeout: 2_000, maxReconnectDelay: 2_000 })
      // Tries at 0, 50, 150, 300, 500, 750 and 1,050 ms, each refused; each check in between says so.
      for (let i = 0; i < 4; i++) {
        expect(yield* reason(ping)).toBe("connection refused")
        yield* Effect.sleep("40 millis")
      }
      yield* Effect.sleep("900 millis")
      // Redis is back; the client finds it at its next try, some 350 ms away. A check now still reports the refusal.
      const server = yield* fakeRedis("answer", port)
      const seenBefore = server.connections.length
      const outcome = yield* Effect.either(ping)
      if (seenBefore === 0) expect(Either.isLeft(outcome) && outcome.left.reason).toBe("connection refused")
      yield* until(() => server.connections.length > 0)
      yield* ping
    }))

  it.scopedLive("a check while the client is between tries of a connection that merely closed waits for the next try", () =>
    Effect.gen(function*() {
      // Five connections closed (pauses of 50 to 200 ms), no error among them; the next try is 250 ms away.
      const { ping, server } = yield* afterFiveClosedConnections
      server.mode = "answer"
      yield* ping
      expect(server.connections).toHaveLength(6)
      expect(server.connections[5]!.commands).toEqual(["PING"])
    }))

  it.scopedLive("a check waiting for the next try is told at once when that try fails", () =>
    Effect.gen(function*() {
      const { ping, server } = yield* afterFiveClosedConnections
      server.stopListening()
      expect(yield* reason(ping)).toBe("connection refused")
    }))

  it.scopedLive("a released client stays closed: a check after release is not connected, and opens nothing", () =>
    Effect.gen(function*() {
      const server = yield* fakeRedis()
      const { close, ping } = yield* redis(`redis://127.0.0.1:${server.port}`)
      yield* ping
      yield* close
      // Once the socket has closed (a check just after release finds it still closing: not writeable either).
      yield* until(() => server.connections[0]!.closed)
      yield* Effect.sleep("20 millis")
      expect(yield* reason(ping)).toBe("not connected")
      yield* Effect.sleep("200 millis")
      expect(server.connections).toHaveLength(1)
      expect(server.connections[0]!.closed).toBe(true)
    }))

  it.scopedLive("release when Redis does not answer QUIT: the socket is closed once QUIT times out", () =>
    Effect.gen(function*() {
      const server = yield* fakeRedis()
      const { close, ping } = yield* redis(`redis://127.0.0.1:${server.port}`)
      yield* ping
      server.mode = "hang"
      // QUIT is a command like any other: the budget (300 ms here) bounds it.
      const [elapsed] = yield* millis(close)
      expect(elapsed).toBeGreaterThanOrEqual(290)
      yield* Effect.sleep("200 millis")
      expect(server.connections[0]!.commands).toEqual(["PING", "QUIT"])
      expect(server.connections[0]!.closed).toBe(true)
    }))

  it.scopedLive("release with a budget over a second: a QUIT that is not answered is given up after 1 s", () =>
    Effect.gen(function*() {
      const server = yield* fakeRedis()
      const { close, ping } = yield* redis(`redis://127.0.0.1:${server.port}`, 4_000)
      yield* ping
      server.mode = "hang"
      // The release runs uninterruptibly: its 1 s bound holds only because QUIT is made interruptible inside it.
      const [elapsed] = yield* millis(close)
      expect(elapsed).toBeGreaterThanOrEqual(990)
      expect(elapsed).toBeLessThan(2_500)
      yield* Effect.sleep("200 millis")
      expect(server.connections[0]!.closed).toBe(true)
    }))

  it.scopedLive("a lazy client connects on its first check, not before", () =>
    Effect.gen(function*() {
      const server = yield* fakeRedis()
      const { ping } = yield* redis(`redis://127.0.0.1:${server.port}`, { lazy: true })
      yield* Effect.sleep("200 millis")
      expect(server.connections).toHaveLength(0)
      yield* ping
      expect(server.connections).toHaveLength(1)
      expect(server.connections[0]!.commands).toEqual(["PING"])
      const port = yield* freePort
      const refused = yield* redis(`redis://127.0.0.1:${port}`, { lazy: true })
      expect(yield* reason(refused.ping)).toBe("connection refused")
    }))

  it.scopedLive("with a probe key, the check is EXISTS on that key, and a key it may not use is permission denied", () =>
    Effect.gen(function*() {
      const server = yield* fakeRedis()
      const { ping } = yield* redis(`redis://127.0.0.1:${server.port}`, { probeKey: "t1:dashboard:readyz" })
      yield* ping
      expect(server.connections[0]!.commands).toEqual(["EXISTS t1:dashboard:readyz"])
      server.replies.set("EXISTS", "-NOPERM User t1 has no permissions to access the 'x' key\r\n")
      expect(yield* reason(ping)).toBe("permission denied")
    }))

  it.scopedLive("each check is a span named Redis.ping", () =>
    Effect.gen(function*() {
      const server = yield* fakeRedis()
      const { ping } = yield* redis(`redis://127.0.0.1:${server.port}`)
      const names = yield* spanNames(ping)
      expect(names).toEqual(["Redis.ping"])
    }))

  it.scopedLive("a check that goes through restarts the backoff: the next loss is retried after 50 ms, not the grown pause", () =>
    Effect.gen(function*() {
      // Five connections closed: the pause has grown to 250 ms. The check waits for the sixth, and its PING passes.
      const { ping, server } = yield* afterFiveClosedConnections
      server.mode = "answer"
      yield* ping
      expect(server.connections).toHaveLength(6)
      server.mode = "hangUp"
      const lostAt = performance.now()
      expect(yield* reason(ping)).toBe("connection closed")
      server.mode = "answer"
      // 50 ms later, not the 300 ms that six failures in a row would have grown to.
      yield* until(() => server.connections.length >= 7)
      expect(server.connections[6]!.openedAt - lostAt).toBeLessThan(200)
      yield* ping
    }))

  it.scopedLive("without maxReconnectDelay the pause between tries stops growing at 250 ms", () =>
    Effect.gen(function*() {
      const server = yield* fakeRedis("slam")
      server.slamWith = "fin"
      yield* redis(`redis://127.0.0.1:${server.port}`)
      // Pauses of 50, 100, 150, 200, 250, 250, 250, 250 ms; uncapped, the last three would be 300, 350 and 400 ms.
      yield* until(() => server.connections.length >= 9)
      const pauses = pausesBetweenConnections(server)
      pauses.slice(4).forEach((pause) => expect(pause).toBeGreaterThanOrEqual(245))
      pauses.slice(6).forEach((pause) => expect(pause).toBeLessThan(330))
    }))

  it.scopedLive("after a timeout the socket is destroyed, not just ended: a server that keeps its side open holds nothing", () =>
    Effect.gen(function*() {
      const server = yield* fakeRedis()
      const { ping } = yield* redis(`redis://127.0.0.1:${server.port}`, 200)
      yield* ping
      server.mode = "deaf"
      expect(yield* reason(ping)).toBe("timeout")
      server.mode = "answer"
      // A new connection 50 ms after the timeout, whose PING gets its own reply; the old one is never used again.
      yield* Effect.sleep("300 millis")
      expect(server.connections).toHaveLength(2)
      yield* ping
      expect(server.connections[0]!.commands).toEqual(["PING", "PING"])
      expect(server.connections[1]!.commands).toEqual(["PING"])
    }))

  it.scopedLive("after a timeout, a check while the client reconnects says timeout at once, without a PING", () =>
    Effect.gen(function*() {
      const server = yield* fakeRedis()
      const { ping } = yield* redis(`redis://127.0.0.1:${server.port}`, 200)
      yield* ping
      server.mode = "deaf"
      expect(yield* reason(ping)).toBe("timeout")
      // The dropped connection is the last word until a PING goes through: no 200 ms spent on the next one.
      const [elapsed, why] = yield* millis(reason(ping))
      expect(why).toBe("timeout")
      expect(elapsed).toBeLessThan(100)
      expect(server.connections.flatMap((connection) => connection.commands)).toEqual(["PING", "PING"])
    }))

  it.scopedLive("release between tries sends no QUIT, returns at once, and no try follows it", () =>
    Effect.gen(function*() {
      const server = yield* fakeRedis("slam")
      server.slamWith = "fin"
      const { close, ping } = yield* redis(`redis://127.0.0.1:${server.port}`, {
        timeout: 1_000,
        maxReconnectDelay: 1_000
      })
      // Three connections closed; the next try is 150 ms away, and would be answered.
      yield* until(() => server.connections.length >= 3 && server.connections[2]!.closed)
      yield* Effect.sleep("20 millis")
      server.mode = "answer"
      const [elapsed] = yield* millis(close)
      expect(elapsed).toBeLessThan(100)
      yield* Effect.sleep("400 millis")
      expect(server.connections).toHaveLength(3)
      expect(server.connections.flatMap((connection) => connection.commands)).toEqual([])
      // A check after release is not connected at once, as after any release.
      const [checked, why] = yield* millis(reason(ping))
      expect(why).toBe("not connected")
      expect(checked).toBeLessThan(100)
    }))

  it.scopedLive("release when Redis hangs and keeps its side open: the client's socket is destroyed, not left half-closed", () =>
    Effect.gen(function*() {
      const server = yield* fakeRedis()
      const { close, ping } = yield* redis(`redis://127.0.0.1:${server.port}`, 200)
      yield* ping
      server.mode = "deaf"
      yield* close
      expect(server.connections[0]!.commands).toEqual(["PING", "QUIT"])
      // A socket the client has destroyed answers whatever still comes with a reset; one it only ended reads on.
      yield* Effect.sleep("50 millis")
      for (const socket of server.sockets) socket.write("+PONG\r\n")
      yield* Effect.sleep("100 millis")
      for (const socket of server.sockets) socket.write("+PONG\r\n")
      yield* Effect.sleep("100 millis")
      expect(server.connections[0]!.closed).toBe(true)
    }))

  it.effect("the failing statics: NotInitialised reads not initialised", () =>
    Effect.gen(function*() {
      expect(Redis.checkName).toBe("redis")
      expect(yield* reason(Redis.NotInitialised.ping)).toBe("not initialised")
    }))
})
