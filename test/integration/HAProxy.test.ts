// The HAProxy harness against two in-test servers whose /readyz a test flips between 200 and 503 while they keep
// serving everything else, as the service does during its drain: HAProxy takes the not-ready one out of rotation
// within fall × inter, no request fails meanwhile, and it comes back after the flip.
import { describe, expect, it } from "@effect/vitest"
import { Data, Duration, Effect, Fiber, Ref, type Scope } from "effect"
import * as http from "node:http"
import type * as net from "node:net"
import * as HAProxy from "../support/HAProxy.js"

interface Backend {
  readonly address: string
  readonly setReady: (ready: boolean) => Effect.Effect<void>
}

/** A server answering its name on every path, and 200 or 503 on /readyz. */
const backendServer = (name: string): Effect.Effect<Backend, never, Scope.Scope> =>
  Effect.gen(function*() {
    let ready = true
    const server = yield* Effect.acquireRelease(
      Effect.async<http.Server>((resume) => {
        const server = http.createServer((request, response) => {
          if (request.url === "/readyz") response.writeHead(ready ? 200 : 503).end()
          else response.writeHead(200, { "content-type": "text/plain" }).end(name)
        })
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
          server.closeAllConnections()
        })
    )
    const { port } = server.address() as net.AddressInfo
    return { address: `127.0.0.1:${port}`, setReady: (next) => Effect.sync(() => void (ready = next)) }
  })

class RequestFailed extends Data.TaggedError("RequestFailed")<{ readonly reason: string }> {}

/** One GET through the frontend: the name of the server that answered. */
const request = (origin: string) =>
  Effect.tryPromise({
    try: async (signal) => {
      const response = await fetch(`${origin}/work`, { signal: AbortSignal.any([signal, AbortSignal.timeout(5_000)]) })
      const body = await response.text()
      if (response.status !== 200) throw new Error(`${response.status} ${body}`)
      return body
    },
    catch: (cause) => new RequestFailed({ reason: String(cause) })
  })

/** Requests one after another until interrupted, counting who answered and what failed. */
const load = (origin: string) =>
  Effect.gen(function*() {
    const answered = yield* Ref.make<ReadonlyArray<string>>([])
    const failed = yield* Ref.make<ReadonlyArray<string>>([])
    const fiber = yield* request(origin).pipe(
      Effect.matchEffect({
        onSuccess: (name) => Ref.update(answered, (all) => [...all, name]),
        onFailure: (error) => Ref.update(failed, (all) => [...all, error.reason])
      }),
      Effect.zipRight(Effect.sleep("5 millis")),
      Effect.forever,
      Effect.fork
    )
    return {
      /** Stops the load and returns what it saw. */
      stop: Effect.zipRight(
        Fiber.interrupt(fiber),
        Effect.all({ answered: Ref.get(answered), failed: Ref.get(failed) })
      )
    }
  })

const inter = 200
const fall = 2
const rise = 2
// A check runs every `inter`; the flip can land just after one. The margin covers a busy 2-core machine.
const bound = (checks: number) => Duration.millis((checks + 1) * inter + 1_500)

describe("HAProxy harness", () => {
  it.live(
    "takes a not-ready server out of rotation within fall × inter, loses no request, and brings it back",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const a = yield* backendServer("a")
        const b = yield* backendServer("b")
        const haproxy = yield* HAProxy.make({ servers: [a.address, b.address], inter: `${inter} millis`, fall, rise })
        expect(haproxy.config).toContain("retries 0")
        expect(haproxy.config).toContain("no option redispatch")
        yield* haproxy.awaitStatus("s0", "UP")
        yield* haproxy.awaitStatus("s1", "UP")
        expect((yield* haproxy.serverStates).map((s) => [s.name, s.address])).toEqual([
          ["s0", a.address],
          ["s1", b.address]
        ])

        const before = yield* load(haproxy.origin)
        yield* Effect.sleep("300 millis")
        yield* b.setReady(false)
        const tookDown = yield* haproxy.awaitStatus("s1", "DOWN", bound(fall))
        const whileDown = yield* load(haproxy.origin)
        const duringFlip = yield* before.stop
        yield* Effect.sleep("500 millis")
        const down = yield* whileDown.stop

        yield* b.setReady(true)
        const tookUp = yield* haproxy.awaitStatus("s1", "UP", bound(rise))
        const after = yield* load(haproxy.origin)
        yield* Effect.sleep("300 millis")
        const up = yield* after.stop

        expect(tookDown.pipe(Duration.lessThanOrEqualTo(bound(fall)))).toBe(true)
        expect(tookUp.pipe(Duration.lessThanOrEqualTo(bound(rise)))).toBe(true)
        for (const run of [duringFlip, down, up]) expect(run.failed).toEqual([])
        // Until it is DOWN, the not-ready server still gets (and answers) its share; once DOWN, none.
        expect(duringFlip.answered).toContain("b")
        expect(down.answered.length).toBeGreaterThan(0)
        expect(new Set(down.answered)).toEqual(new Set(["a"]))
        expect(new Set(up.answered)).toEqual(new Set(["a", "b"]))
        expect(haproxy.output()).toMatch(/s1 is DOWN/)
      })),
    20_000
  )
})
