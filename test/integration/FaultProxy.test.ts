// The FaultProxy against the real Redis: each fault, switched at any moment, on open and new connections.
import { describe, expect, it } from "@effect/vitest"
import { Data, Duration, Effect, Schedule, Scope } from "effect"
import * as net from "node:net"
import { performance } from "node:perf_hooks"
import * as FaultProxy from "../support/FaultProxy.js"
import { Fault } from "../support/FaultProxy.js"

const redis = { host: "127.0.0.1", port: 6379 }

class ConnectError extends Data.TaggedError("ConnectError")<{ readonly code: string | undefined }> {}
class NoReply extends Data.TaggedError("NoReply")<{ readonly expected: string; readonly received: string }> {}

// A raw Redis connection that records what it receives and how it ended, so a test can assert on either.
interface Client {
  readonly send: (text: string) => Effect.Effect<void>
  readonly received: Effect.Effect<string>
  readonly receive: (text: string) => Effect.Effect<void, NoReply>
  /** The error code the connection ended with, or "closed" for a clean close. */
  readonly ended: Effect.Effect<string>
  readonly end: Effect.Effect<void>
}

const connect = (port: number): Effect.Effect<Client, ConnectError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<readonly [net.Socket, Client], ConnectError>((resume) => {
      const socket = net.connect({ host: "127.0.0.1", port })
      let received = ""
      let outcome = "closed"
      let connected = false
      // Listeners go on before the first tick: a reset can arrive right after the connect.
      const ended = new Promise<string>((resolve) => socket.once("close", () => resolve(outcome)))
      socket.on("data", (chunk) => (received += chunk.toString()))
      socket.on("error", (error: NodeJS.ErrnoException) => {
        outcome = error.code ?? "error"
        if (!connected) resume(Effect.fail(new ConnectError({ code: error.code })))
      })
      socket.once("connect", () => {
        connected = true
        const client: Client = {
          send: (text) => Effect.sync(() => void socket.write(text)),
          received: Effect.sync(() => received),
          receive: (text) =>
            Effect.sync(() => received.includes(text)).pipe(
              Effect.repeat({ schedule: Schedule.spaced("5 millis"), until: (found) => found }),
              Effect.timeoutFail({ duration: "1 second", onTimeout: () => new NoReply({ expected: text, received }) })
            ),
          ended: Effect.promise(() => ended).pipe(Effect.timeout("1 second"), Effect.orDie),
          end: Effect.sync(() => void socket.end())
        }
        resume(Effect.succeed([socket, client]))
      })
    }),
    ([socket]) => Effect.sync(() => socket.destroy())
  ).pipe(Effect.map(([, client]) => client))

const refused = (port: number) => connect(port).pipe(Effect.flip, Effect.map((error) => error.code))

const ping = (client: Client) => Effect.zipRight(client.send("PING\r\n"), client.receive("+PONG\r\n"))

const proxy = (initial?: Fault) =>
  FaultProxy.make(initial === undefined ? { target: redis } : { target: redis, initial })

describe("FaultProxy", () => {
  it.scopedLive("pass forwards both ways and counts connections and bytes", () =>
    Effect.gen(function*() {
      const fp = yield* proxy()
      const client = yield* connect(fp.port)
      yield* ping(client)
      expect(yield* fp.stats).toEqual({
        fault: Fault.pass,
        open: 1,
        accepted: 1,
        bytesToTarget: 6,
        bytesToClient: 7,
        bytesSwallowed: 0
      })
      yield* client.end
      yield* fp.awaitOpen(0)
      expect(yield* client.ended).toBe("closed")
      expect((yield* fp.stats).open).toBe(0)
    }))

  it.scopedLive("down refuses new connections, cuts open ones, and pass listens on the same port again", () =>
    Effect.gen(function*() {
      const fp = yield* proxy()
      const open = yield* connect(fp.port)
      yield* ping(open)
      yield* fp.set(Fault.down)
      expect(yield* open.ended).toBe("closed")
      expect(yield* refused(fp.port)).toBe("ECONNREFUSED")
      expect((yield* fp.stats).open).toBe(0)
      yield* fp.set(Fault.pass)
      yield* ping(yield* connect(fp.port))
    }))

  it.scopedLive("down and back survives quick cycles", () =>
    Effect.gen(function*() {
      const fp = yield* proxy()
      for (let i = 0; i < 20; i++) {
        yield* fp.set(Fault.down)
        yield* fp.set(Fault.pass)
      }
      yield* ping(yield* connect(fp.port))
    }))

  it.scopedLive("an initial down refuses until pass", () =>
    Effect.gen(function*() {
      const fp = yield* proxy(Fault.down)
      expect(yield* refused(fp.port)).toBe("ECONNREFUSED")
      yield* fp.set(Fault.pass)
      yield* ping(yield* connect(fp.port))
    }))

  it.scopedLive("blackhole swallows requests on open and new connections; pass resumes the open ones", () =>
    Effect.gen(function*() {
      const fp = yield* proxy()
      const open = yield* connect(fp.port)
      yield* ping(open)
      yield* fp.set(Fault.blackhole)
      const late = yield* connect(fp.port)
      yield* Effect.all([open.send("PING\r\n"), late.send("PING\r\n")])
      yield* Effect.sleep("300 millis")
      expect(yield* open.received).toBe("+PONG\r\n")
      expect(yield* late.received).toBe("")
      expect(yield* fp.stats).toMatchObject({ bytesSwallowed: 12, bytesToTarget: 6, open: 2, accepted: 2 })
      yield* fp.set(Fault.pass)
      yield* open.send("ECHO again\r\n")
      yield* open.receive("again")
      expect(yield* open.received).toBe("+PONG\r\n$5\r\nagain\r\n")
      yield* ping(late)
      yield* ping(yield* connect(fp.port))
    }))

  it.scopedLive("blackhole swallows what the target sends", () =>
    Effect.gen(function*() {
      const fp = yield* proxy()
      const channel = `fault-proxy-${process.pid}-${Date.now()}`
      const subscriber = yield* connect(fp.port)
      const publisher = yield* connect(redis.port)
      yield* subscriber.send(`SUBSCRIBE ${channel}\r\n`)
      yield* subscriber.receive(":1\r\n")
      yield* fp.set(Fault.blackhole)
      yield* publisher.send(`PUBLISH ${channel} lost\r\n`)
      yield* publisher.receive(":1\r\n")
      yield* Effect.sleep("100 millis")
      expect((yield* fp.stats).bytesSwallowed).toBeGreaterThan(0)
      yield* fp.set(Fault.pass)
      yield* publisher.send(`PUBLISH ${channel} kept\r\n`)
      yield* subscriber.receive("kept")
      expect(yield* subscriber.received).not.toContain("lost")
    }))

  it.scopedLive("latency delays each direction and keeps order when it changes", () =>
    Effect.gen(function*() {
      const fp = yield* proxy(Fault.latency("200 millis"))
      const client = yield* connect(fp.port)
      const start = performance.now()
      yield* ping(client)
      expect(performance.now() - start).toBeGreaterThanOrEqual(400)

      // Sent later without delay, the ECHO must still reach Redis after the delayed PING.
      yield* client.send("PING\r\n")
      yield* fp.set(Fault.pass)
      yield* client.send("ECHO b\r\n")
      yield* client.receive("$1\r\nb\r\n")
      expect(yield* client.received).toBe("+PONG\r\n+PONG\r\n$1\r\nb\r\n")
    }))

  it.scopedLive("reset resets open connections and new ones", () =>
    Effect.gen(function*() {
      const fp = yield* proxy()
      const open = yield* connect(fp.port)
      yield* ping(open)
      yield* fp.set(Fault.reset)
      expect(yield* open.ended).toBe("ECONNRESET")
      // On loopback the reset usually lands before the client has seen its connect complete, so either is fine.
      const late = yield* connect(fp.port).pipe(
        Effect.flatMap((client) => client.ended),
        Effect.catchTag("ConnectError", (error) => Effect.succeed(error.code))
      )
      expect(late).toBe("ECONNRESET")
      yield* fp.set(Fault.pass)
      yield* ping(yield* connect(fp.port))
      yield* fp.awaitOpen(1)
    }))

  it.scopedLive("closing the scope cuts connections and frees the port", () =>
    Effect.gen(function*() {
      const outer = yield* Effect.scope
      const [port, client] = yield* Effect.scoped(Effect.gen(function*() {
        const fp = yield* proxy()
        const client = yield* connect(fp.port).pipe(Scope.extend(outer))
        yield* ping(client)
        return [fp.port, client] as const
      }))
      expect(yield* client.ended).toBe("closed")
      expect(yield* refused(port)).toBe("ECONNREFUSED")
    }))

  it.scopedLive("awaitOpen fails with the count when connections stay open", () =>
    Effect.gen(function*() {
      const fp = yield* proxy()
      yield* ping(yield* connect(fp.port))
      const error = yield* fp.awaitOpen(0, Duration.millis(50)).pipe(Effect.flip)
      expect(error._tag).toBe("FaultProxyError")
      expect(error.message).toContain("still has 1 open")
    }))
})
