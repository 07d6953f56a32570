// An in-process TCP proxy that a test puts between a client and PostgreSQL or Redis to switch network faults on and
// off at any moment, like Toxiproxy without the daemon.
import { Data, Duration, Effect, Schedule, type Scope } from "effect"
import * as net from "node:net"
import { performance } from "node:perf_hooks"

export type Fault =
  | { readonly _tag: "Pass" }
  | { readonly _tag: "Down" }
  | { readonly _tag: "Blackhole" }
  | { readonly _tag: "Latency"; readonly ms: number }
  | { readonly _tag: "Reset" }

const pass: Fault = { _tag: "Pass" }
const down: Fault = { _tag: "Down" }
const blackhole: Fault = { _tag: "Blackhole" }
const reset: Fault = { _tag: "Reset" }

const latency = (delay: Duration.DurationInput): Fault => {
  const ms = Duration.toMillis(delay)
  // setTimeout turns a non-finite or overflowing delay into 1 ms, which would silently mean "no fault".
  if (!Number.isFinite(ms) || ms < 0 || ms > 2 ** 31 - 1) {
    throw new RangeError(`FaultProxy latency must be between 0 and 2^31-1 ms, got ${ms}`)
  }
  return { _tag: "Latency", ms }
}

export const Fault = {
  /** Forward both ways. */
  pass,
  /** The port refuses connections and every open connection is cut. */
  down,
  /** Connections are accepted and kept, but bytes in both directions are dropped. */
  blackhole,
  /** Every chunk waits this long in each direction, order kept. */
  latency,
  /** Open and new connections are reset (RST). */
  reset
} as const

export interface ProxyStats {
  readonly fault: Fault
  /** Accepted connections whose client or upstream socket is not closed yet. */
  readonly open: number
  /** Every connection the proxy accepted, including the ones it reset or cut at once. */
  readonly accepted: number
  readonly bytesToTarget: number
  readonly bytesToClient: number
  /** Bytes dropped by `blackhole`, both directions. */
  readonly bytesSwallowed: number
}

export class FaultProxyError extends Data.TaggedError("FaultProxyError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

export interface Options {
  readonly target: { readonly host: string; readonly port: number }
  readonly initial?: Fault
}

export interface FaultProxy {
  /** Stays the same for the proxy's life, across `down`. */
  readonly port: number
  /** Fails only when leaving `down` and the port cannot be listened on again. */
  readonly set: (fault: Fault) => Effect.Effect<void, FaultProxyError>
  readonly stats: Effect.Effect<ProxyStats>
  /** Waits until at most `count` connections are open, for leak assertions. */
  readonly awaitOpen: (count: number, timeout?: Duration.DurationInput) => Effect.Effect<void, FaultProxyError>
}

const host = "127.0.0.1"

// One direction of a connection. Chunks are queued with a due time that never goes backwards, so a chunk sent after
// a latency change or after leaving `latency` never overtakes one still waiting. `null` stands for the end of stream.
interface Relay {
  readonly push: (chunk: Buffer | null, delay: number) => void
  readonly clear: () => void
}

const makeRelay = (from: net.Socket, to: net.Socket, onWritten: (bytes: number) => void): Relay => {
  const queue: Array<{ readonly due: number; readonly chunk: Buffer | null }> = []
  let timer: NodeJS.Timeout | undefined
  let waitingForDrain = false

  const deliver = (chunk: Buffer | null) => {
    if (to.destroyed) return
    if (chunk === null) {
      to.end()
      return
    }
    onWritten(chunk.length)
    if (!to.write(chunk) && !waitingForDrain) {
      waitingForDrain = true
      from.pause()
      to.once("drain", () => {
        waitingForDrain = false
        from.resume()
      })
    }
  }

  const flush = () => {
    timer = undefined
    for (let head = queue[0]; head !== undefined; head = queue[0]) {
      const wait = head.due - performance.now()
      // Timers may fire a little early; re-arm rather than deliver before the promised delay.
      if (wait > 0) {
        timer = setTimeout(flush, Math.ceil(wait))
        return
      }
      queue.shift()
      deliver(head.chunk)
    }
  }

  return {
    push: (chunk, delay) => {
      if (delay === 0 && queue.length === 0) return deliver(chunk)
      const due = Math.max(performance.now() + delay, queue.at(-1)?.due ?? 0)
      queue.push({ due, chunk })
      if (timer === undefined) flush()
    },
    clear: () => {
      clearTimeout(timer)
      timer = undefined
      queue.length = 0
    }
  }
}

interface Connection {
  readonly cut: (how: "destroy" | "reset") => void
  readonly closed: Promise<void>
}

const listenError = (port: number, cause: unknown) =>
  new FaultProxyError({ message: `FaultProxy could not listen on ${host}:${port}`, cause })

export const make = (options: Options): Effect.Effect<FaultProxy, FaultProxyError, Scope.Scope> =>
  Effect.gen(function*() {
    const { target } = options
    const connections = new Set<Connection>()
    const watchers = new Set<() => void>()
    const lock = yield* Effect.makeSemaphore(1)
    let fault: Fault = options.initial ?? pass
    let closing = false
    let server: net.Server | undefined
    let accepted = 0
    let bytesToTarget = 0
    let bytesToClient = 0
    let bytesSwallowed = 0

    const onConnection = (client: net.Socket) => {
      accepted++
      client.on("error", () => {})
      if (closing || fault._tag === "Down") return void client.destroy()
      if (fault._tag === "Reset") return void client.resetAndDestroy()

      const upstream = net.connect({ host: target.host, port: target.port, allowHalfOpen: true })
      upstream.on("error", () => {})
      client.setNoDelay(true)
      upstream.setNoDelay(true)
      const toTarget = makeRelay(client, upstream, (bytes) => (bytesToTarget += bytes))
      const toClient = makeRelay(upstream, client, (bytes) => (bytesToClient += bytes))
      const delay = () => (fault._tag === "Latency" ? fault.ms : 0)
      const forward = (relay: Relay) => (chunk: Buffer) => {
        if (fault._tag === "Blackhole") bytesSwallowed += chunk.length
        else relay.push(chunk, delay())
      }

      const cut = (how: "destroy" | "reset") => {
        toTarget.clear()
        toClient.clear()
        if (!client.destroyed) {
          if (how === "reset") client.resetAndDestroy()
          else client.destroy()
        }
        upstream.destroy()
      }
      const closed = new Promise<void>((resolve) => {
        let open = 2
        const onClose = () => {
          if (--open > 0) return
          toTarget.clear()
          toClient.clear()
          connections.delete(connection)
          for (const watcher of watchers) watcher()
          resolve()
        }
        client.once("close", onClose)
        upstream.once("close", onClose)
      })
      const connection: Connection = { cut, closed }
      connections.add(connection)

      client.on("data", forward(toTarget))
      upstream.on("data", forward(toClient))
      // Closes are not swallowed by `blackhole`: a socket must never outlive its peer, or the leak checks would lie.
      client.on("end", () => toTarget.push(null, delay()))
      upstream.on("end", () => toClient.push(null, delay()))
      client.on("error", () => cut("destroy"))
      upstream.on("error", () => cut("destroy"))
    }

    const listen = (port: number) =>
      Effect.async<net.Server, NodeJS.ErrnoException>((resume) => {
        const candidate = net.createServer({ allowHalfOpen: true }, onConnection)
        const onError = (error: NodeJS.ErrnoException) => resume(Effect.fail(error))
        candidate.once("error", onError)
        candidate.listen({ host, port }, () => {
          candidate.off("error", onError)
          candidate.on("error", () => {})
          resume(Effect.succeed(candidate))
        })
      })

    // Leaving `down` re-listens on the same port. Another socket may have taken the port meanwhile (a client's
    // ephemeral port, or a self-connect of a client retrying against the closed port), so EADDRINUSE is retried.
    const relisten = (port: number) =>
      listen(port).pipe(
        Effect.retry({
          while: (error) => error.code === "EADDRINUSE",
          times: 100,
          schedule: Schedule.spaced("20 millis")
        }),
        Effect.mapError((cause) => listenError(port, cause))
      )

    const cutAll = (how: "destroy" | "reset") =>
      Effect.promise(() => {
        const all = [...connections]
        for (const connection of all) connection.cut(how)
        return Promise.all(all.map((connection) => connection.closed))
      })

    const closeServer = Effect.async<void>((resume) => {
      const current = server
      server = undefined
      if (current === undefined) return resume(Effect.void)
      current.close(() => resume(Effect.void))
    })

    // Concurrent because the server's close callback only runs once its connections are gone.
    const stop = Effect.all([closeServer, cutAll("destroy")], { concurrency: "unbounded", discard: true })

    const first = yield* Effect.acquireRelease(
      listen(0).pipe(Effect.mapError((cause) => listenError(0, cause))),
      () =>
        lock.withPermits(1)(Effect.suspend(() => {
          closing = true
          return stop
        }))
    )
    server = first
    const port = (first.address() as net.AddressInfo).port
    if (fault._tag === "Down") yield* closeServer

    const set = (next: Fault) =>
      lock.withPermits(1)(Effect.suspend(() => {
        // After the scope closed, re-listening would leak a server nobody closes.
        if (closing) return Effect.void
        const previous = fault
        fault = next
        if (next._tag === "Down") return stop
        const reopen = previous._tag !== "Down" ? Effect.void : relisten(port).pipe(
          Effect.tap((listening) => Effect.sync(() => void (server = listening))),
          Effect.tapError(() => Effect.sync(() => void (fault = previous)))
        )
        return Effect.zipRight(reopen, next._tag === "Reset" ? cutAll("reset") : Effect.void)
      })).pipe(Effect.uninterruptible, Effect.withSpan("FaultProxy.set", { attributes: { fault: next._tag } }))

    const stats = Effect.sync((): ProxyStats => ({
      fault,
      open: connections.size,
      accepted,
      bytesToTarget,
      bytesToClient,
      bytesSwallowed
    }))

    const awaitOpen = (count: number, timeout: Duration.DurationInput = "2 seconds") =>
      Effect.async<void>((resume) => {
        const check = () => {
          if (connections.size > count) return
          watchers.delete(check)
          resume(Effect.void)
        }
        watchers.add(check)
        check()
        return Effect.sync(() => watchers.delete(check))
      }).pipe(
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () =>
            new FaultProxyError({
              message: `FaultProxy still has ${connections.size} open connections after ${
                Duration.format(timeout)
              }, expected at most ${count}`
            })
        })
      )

    return { port, set, stats, awaitOpen } satisfies FaultProxy
  })
