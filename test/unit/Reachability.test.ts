// The one-line "PostgreSQL/Redis not reachable" and "not on the PATH" checks that guard the integration project.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
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

  it("names every program that is not on the PATH and the packages that install them, once each", () => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "tools-"))
    try {
      const script = Path.join(dir, "haproxy")
      Fs.writeFileSync(script, "#!/bin/sh\n", { mode: 0o755 })
      Fs.writeFileSync(Path.join(dir, "promtool"), "not executable", { mode: 0o644 })
      const path = ["", Path.join(dir, "missing"), dir].join(Path.delimiter)
      expect(Reachability.missingTools(Reachability.defaultSuiteTools, path)).toBe(
        "not on the PATH: promtool, prometheus (install: apt-get install -y prometheus)"
      )
      expect(Reachability.missingTools([{ command: "haproxy", debianPackage: "haproxy" }], path)).toBeUndefined()
      expect(Reachability.missingTools(Reachability.defaultSuiteTools, "")).toBe(
        "not on the PATH: haproxy, promtool, prometheus (install: apt-get install -y haproxy prometheus)"
      )
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
