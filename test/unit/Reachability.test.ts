// The one-line "PostgreSQL/Redis not reachable" check that guards the integration project.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Net from "node:net"
import * as Reachability from "../support/Reachability.js"
import { freePort } from "../support/Service.js"

describe("the reachability check of the integration project", () => {
  it.live("names what is not reachable, where, and how to start it, in one line without a stack", () =>
    Effect.gen(function*() {
      const closed = { ...Reachability.redis, port: yield* freePort }
      const message = yield* Effect.promise(() => Reachability.unreachable([closed]))
      expect(message).toBe(`not reachable: Redis on 127.0.0.1:${closed.port} (start it: ${Reachability.redis.start})`)
      expect(message).not.toContain("\n")
      const error = yield* Effect.promise(() => Reachability.requireReachable([closed]).then(() => undefined, (e) => e))
      expect(error).toBeInstanceOf(Error)
      expect((error as Error).stack).toBe(`Error: ${message}`)
    }))

  it.live("says nothing when every target accepts a connection", () =>
    Effect.gen(function*() {
      const server = yield* Effect.acquireRelease(
        Effect.async<Net.Server>((resume) => {
          const server = Net.createServer((socket) => socket.destroy())
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
      )
      const open = { ...Reachability.postgres, port: (server.address() as Net.AddressInfo).port }
      const closed = { ...Reachability.postgres, port: yield* freePort }
      expect(yield* Effect.promise(() => Reachability.unreachable([open]))).toBeUndefined()
      expect(yield* Effect.promise(() => Reachability.unreachable([open, closed]))).toMatch(
        new RegExp(`^not reachable: PostgreSQL on 127\\.0\\.0\\.1:${closed.port} \\(start it: pg_ctlcluster `)
      )
    }).pipe(Effect.scoped))
})
