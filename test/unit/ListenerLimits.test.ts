// The listener's limits, small on purpose so that each takes a second: the connection cap, the idle timeout and the
// headers timeout, on the app built with test layers. Real sockets on loopback and the wall clock.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Net from "node:net"
import { performance } from "node:perf_hooks"
import { Database } from "../../src/layers/Database.js"
import { Redis } from "../../src/layers/Redis.js"
import * as Service from "../support/Service.js"
import { hold, stillOpen, trickle, waitUntil } from "../support/Sockets.js"
import * as TestApp from "../support/TestApp.js"

const healthy = { database: Database.Test, redis: Redis.Test }

describe("server limits, small on purpose", () => {
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

describe("server limits on a connection that has sent a request", () => {
  /** A raw connection: what it received, and when the server closed it. */
  const connect = (port: number) =>
    Effect.acquireRelease(
      Effect.async<{ socket: Net.Socket; received: () => string; closedAt: () => number | undefined }>((resume) => {
        let received = ""
        let closedAt: number | undefined
        const socket = Net.connect({ host: "127.0.0.1", port }, () =>
          resume(Effect.succeed({ socket, received: () => received, closedAt: () => closedAt })))
        socket.setEncoding("latin1")
        socket.on("data", (chunk: string) => (received += chunk))
        socket.on("error", () => {})
        socket.on("close", () => (closedAt = performance.now()))
      }),
      ({ socket }) =>
        Effect.sync(() => socket.destroy())
    )

  it.scopedLive("a keep-alive connection is closed once it has waited keepAliveTimeout for its next request", () =>
    Effect.gen(function*() {
      const keepAliveTimeoutMillis = 300
      const app = yield* TestApp.serve({ ...healthy, limits: { keepAliveTimeoutMillis, idleTimeoutMillis: 10_000 } })
      const connection = yield* connect(app.port)
      connection.socket.write("GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n")
      expect(yield* waitUntil(() => connection.received().includes("{\"status\":\"ok\"}"), 1_000)).toBe(true)
      const answeredAt = performance.now()
      // Node closes the socket a second after the timeout it advertises, for clients that reuse it just in time.
      const closesWithin = keepAliveTimeoutMillis + 1_000
      expect(yield* waitUntil(() => connection.closedAt() !== undefined, closesWithin + 1_000)).toBe(true)
      const waited = connection.closedAt()! - answeredAt
      expect(waited).toBeGreaterThanOrEqual(keepAliveTimeoutMillis - 50)
      expect(waited).toBeLessThan(closesWithin + 500)
    }))
})
