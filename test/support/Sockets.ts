// Sockets that hold a connection to a server and do nothing useful with it: idle ones (connected, never a byte) and
// slowloris ones (a header byte now and then), for the tests of the server's limits. Real sockets on loopback.
import * as Effect from "effect/Effect"
import * as Net from "node:net"
import { performance } from "node:perf_hooks"

export interface Held {
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
export const hold = (port: number, count: number) =>
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
export const trickle = (sockets: ReadonlyArray<Held>, everyMillis: number) => {
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

export const stillOpen = (sockets: ReadonlyArray<Held>) => sockets.filter((held) => held.closedAt === undefined).length

export const waitUntil = (condition: () => boolean, withinMillis: number) =>
  Effect.gen(function*() {
    const deadline = performance.now() + withinMillis
    while (!condition() && performance.now() < deadline) yield* Effect.sleep(20)
    return condition()
  })
