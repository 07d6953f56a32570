// The server's limits under sockets that hold a connection and do nothing useful with it: idle ones (connected, never
// a byte) and slowloris ones (a header byte now and then). Real sockets on loopback and the wall clock throughout.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { readdirSync } from "node:fs"
import * as Net from "node:net"
import { performance } from "node:perf_hooks"
import { Database } from "../../src/layers/Database.js"
import { Redis } from "../../src/layers/Redis.js"
import * as Service from "../support/Service.js"
import * as TestApp from "../support/TestApp.js"

/** What /healthz on a fresh connection must answer within while the sockets are held. */
const healthBoundMillis = 50

interface Held {
  readonly socket: Net.Socket
  /** Whether the server accepted the connection at all. */
  readonly connected: boolean
  /** `performance.now()` when the connection closed, if it did. */
  closedAt: number | undefined
  /** Bytes the server sent on it. */
  received: number
}

const openOne = (port: number) =>
  new Promise<Held>((resolve) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    const held: { -readonly [K in keyof Held]: Held[K] } = {
      socket,
      connected: false,
      closedAt: undefined,
      received: 0
    }
    socket.on("data", (chunk) => (held.received += chunk.length))
    socket.on("error", () => {})
    socket.on("close", () => {
      held.closedAt = performance.now()
      resolve(held)
    })
    socket.once("connect", () => {
      held.connected = true
      resolve(held)
    })
  })

/** Opens `count` sockets that send nothing (in batches, within the listen backlog); destroyed with the scope. */
const hold = (port: number, count: number) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const all: Array<Held> = []
      for (let i = 0; i < count; i += 250) {
        all.push(...await Promise.all(Array.from({ length: Math.min(250, count - i) }, () => openOne(port))))
      }
      return all
    }),
    (all) => Effect.sync(() => all.forEach((held) => held.socket.destroy()))
  )

/**
 * Sends every open socket the next byte of a request head every `everyMillis`, until the scope closes. The sockets
 * take turns (a slice of them every 10 ms) as independent clients would: writing all of them in one tick would
 * measure bursts of 2,000 writes in this process and 2,000 reads in the server, not the steady load.
 */
const trickle = (sockets: ReadonlyArray<Held>, everyMillis: number) => {
  const head = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + "x".repeat(10_000)
  const slices = Math.max(1, Math.round(everyMillis / 10))
  let tick = 0
  return Effect.acquireRelease(
    Effect.sync(() =>
      setInterval(() => {
        const slice = tick % slices
        const byte = head[Math.floor(tick / slices) % head.length]!
        tick++
        for (let i = slice; i < sockets.length; i += slices) {
          const held = sockets[i]!
          if (held.closedAt === undefined) held.socket.write(byte)
        }
      }, 10)
    ),
    (timer) => Effect.sync(() => clearInterval(timer))
  )
}

const stillOpen = (sockets: ReadonlyArray<Held>) => sockets.filter((held) => held.closedAt === undefined).length

/** /healthz on `samples` fresh connections, one after the other with a pause between; every answer. */
const sampleHealth = (port: number, samples = 8) =>
  Effect.forEach(Array.from({ length: samples }), () => Effect.zipLeft(Service.get(port, "/healthz"), Effect.sleep(50)))

const waitUntil = (condition: () => boolean, withinMillis: number) =>
  Effect.gen(function*() {
    const deadline = performance.now() + withinMillis
    while (!condition() && performance.now() < deadline) yield* Effect.sleep(20)
    return condition()
  })

describe("server limits, node dist/main.js with its default limits", () => {
  it.scopedLive(
    "2,000 idle sockets: /healthz on a fresh connection answers 200 within 50 ms",
    () =>
      Effect.gen(function*() {
        const service = yield* Service.spawn()
        const idle = yield* hold(service.port, 2_000)
        expect(idle.filter((held) => held.connected).length).toBe(2_000)
        const answers = yield* sampleHealth(service.port)
        // Measured while every idle socket was still open: the default idle timeout is 10 s.
        expect(stillOpen(idle)).toBe(2_000)
        expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 200))
        const slowest = Math.max(...answers.map((answer) => answer.elapsedMs))
        console.log(`[limits] /healthz with 2,000 idle sockets: max ${slowest.toFixed(1)} ms of ${answers.length}`)
        expect(slowest).toBeLessThan(healthBoundMillis)
        yield* service.assertAlive
      }),
    60_000
  )

  it.scopedLive(
    "2,000 slowloris sockets: /healthz on a fresh connection answers 200 within 50 ms",
    () =>
      Effect.gen(function*() {
        const service = yield* Service.spawn()
        const slow = yield* hold(service.port, 2_000)
        yield* trickle(slow, 300)
        yield* Effect.sleep(1_000)
        const answers = yield* sampleHealth(service.port)
        // The headers timeout (10 s) has not cut them yet: the load was there during the measurement.
        expect(stillOpen(slow)).toBe(2_000)
        expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 200))
        const slowest = Math.max(...answers.map((answer) => answer.elapsedMs))
        console.log(`[limits] /healthz with 2,000 slowloris sockets: max ${slowest.toFixed(1)} ms of ${answers.length}`)
        expect(slowest).toBeLessThan(healthBoundMillis)
        yield* service.assertAlive
      }),
    60_000
  )

  it.scopedLive(
    "at its default cap the process keeps descriptors for PostgreSQL and Redis, and stays ready",
    () =>
      Effect.gen(function*() {
        // Under `ulimit -n 512` the default cap is 512 - 256 = 256 connections; 400 sockets fill it.
        const service = yield* Service.spawn({ openFiles: 512 })
        const sockets = yield* hold(service.port, 400)
        expect(yield* waitUntil(() => stillOpen(sockets) === 256, 2_000)).toBe(true)
        const descriptors = readdirSync(`/proc/${service.pid}/fd`).length
        expect(descriptors).toBeLessThan(512 - 200)
        yield* service.assertAlive
        // No EMFILE and no error logged (a warning, such as Node 24's deprecation of url.parse in ioredis, is not one).
        expect(service.output()).not.toMatch(/EMFILE|"logLevel":"(ERROR|FATAL)"/)
        // A readiness round still reaches PostgreSQL and Redis: its sockets have descriptors to use.
        yield* Effect.sleep(1_500)
        sockets.forEach((held) => held.socket.destroy())
        const ready = yield* Service.get(service.port, "/readyz")
        expect(ready.status).toBe(200)
        expect(JSON.parse(ready.body)).toMatchObject({ status: "ready" })
        console.log(`[limits] at the cap of 256 under ulimit -n 512: ${descriptors} descriptors open`)
      }),
    60_000
  )
})

describe("server limits, small on purpose", () => {
  const healthy = { database: Database.Test, redis: Redis.Test }

  it.scopedLive("past maxConnections new sockets are closed; once idle ones time out, probes are answered again", () =>
    Effect.gen(function*() {
      const idleTimeoutMillis = 500
      const app = yield* TestApp.serve({ ...healthy, limits: { maxConnections: 50, idleTimeoutMillis } })
      const openedAt = performance.now()
      const idle = yield* hold(app.port, 50)
      expect(idle.filter((held) => held.connected && held.closedAt === undefined).length).toBe(50)

      // Over the cap: accepted by the kernel, then closed by the server without a byte, and a probe gets no answer.
      const extra = yield* hold(app.port, 10)
      expect(yield* waitUntil(() => stillOpen(extra) === 0, 200)).toBe(true)
      expect(extra.map((held) => held.received)).toEqual(extra.map(() => 0))
      const refused = yield* Service.get(app.port, "/healthz")
      expect(refused.status).not.toBe(200)

      // The idle ones are closed at their timeout, and fresh connections are served again.
      expect(yield* waitUntil(() => stillOpen(idle) === 0, idleTimeoutMillis + 1_000)).toBe(true)
      const closedAfter = Math.max(...idle.map((held) => held.closedAt! - openedAt))
      expect(closedAfter).toBeGreaterThanOrEqual(idleTimeoutMillis - 50)
      expect((yield* Service.get(app.port, "/healthz")).status).toBe(200)
      expect((yield* Service.get(app.port, "/readyz")).status).toBe(200)
    }))

  it.scopedLive("a slowloris socket is cut at the headers timeout although it keeps sending", () =>
    Effect.gen(function*() {
      const headersTimeoutMillis = 1_000
      const app = yield* TestApp.serve({
        ...healthy,
        limits: { headersTimeoutMillis, requestTimeoutMillis: 2_000, idleTimeoutMillis: 10_000 }
      })
      const openedAt = performance.now()
      const slow = yield* hold(app.port, 20)
      yield* trickle(slow, 100)
      // Node checks the timeouts once a second (connectionsCheckingInterval): the cut comes within one more second.
      expect(yield* waitUntil(() => stillOpen(slow) === 0, headersTimeoutMillis + 1_000 + 500)).toBe(true)
      const closedAfter = Math.min(...slow.map((held) => held.closedAt! - openedAt))
      expect(closedAfter).toBeGreaterThanOrEqual(headersTimeoutMillis - 50)
      expect((yield* Service.get(app.port, "/healthz")).status).toBe(200)
    }))
})
