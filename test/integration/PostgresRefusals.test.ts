// The live PostgreSQL layer, and the real process, against private PostgreSQL servers that say no: no room for
// another client, a certificate the client cannot trust; and the shared server, which does not speak TLS.
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as ChildProcess from "node:child_process"
import { Database } from "../../src/layers/Database.js"
import * as PrivateServers from "../support/PrivateServers.js"

const budgetMs = 1000

const database = (url: Redacted.Redacted) =>
  Effect.map(Layer.build(Database.layer({ url, timeout: `${budgetMs} millis` })), Context.get(Database))

/** The check's failure reason, retried until it reads `reason` or 5 s pass; the last reason otherwise. */
const reasonOfCheck = (check: Database["Type"], reason: string) =>
  Effect.flip(check.ping).pipe(
    Effect.map((error) => error.reason),
    Effect.filterOrFail((seen) => seen === reason, (seen) => seen),
    Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("5 seconds"))),
    Effect.merge
  )

describe("PostgreSQL refusing the service", () => {
  it.scopedLive(
    "a server with every connection taken reads too many connections (SQLSTATE 53300)",
    () =>
      Effect.gen(function*() {
        const postgres = yield* PrivateServers.postgres({ maxConnections: 2 })
        yield* postgres.hold
        yield* postgres.hold
        const check = yield* database(postgres.url())
        expect(yield* reasonOfCheck(check, "too many connections")).toBe("too many connections")
      }),
    60_000
  )

  it.scopedLive("sslmode=require against a server without TLS reads tls not supported", () =>
    Effect.gen(function*() {
      const check = yield* database(Redacted.make("postgres://postgres@127.0.0.1:5432/postgres?sslmode=require"))
      expect(yield* reasonOfCheck(check, "tls not supported")).toBe("tls not supported")
    }))
})

const startService = (env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = ChildProcess.spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
        env: { ...process.env, HOST: "127.0.0.1", ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      const output = { stdout: "", stderr: "" }
      child.stdout.on("data", (chunk) => (output.stdout += chunk))
      child.stderr.on("data", (chunk) => (output.stderr += chunk))
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
      return { child, output, exited }
    }),
    ({ child, exited }) =>
      Effect.promise(() => {
        if (child.exitCode === null) child.kill("SIGKILL")
        return exited
      })
  )

describe("the real process with sslmode=require against a server with a self-signed certificate", () => {
  it.scopedLive(
    "reads certificate not trusted, and pg's warning is one log line, not Node's nine on stderr",
    () =>
      Effect.gen(function*() {
        const postgres = yield* PrivateServers.postgres({ ssl: true })
        const port = yield* PrivateServers.freePort
        const service = yield* startService({
          PORT: String(port),
          DATABASE_URL: Redacted.value(postgres.url("sslmode=require")),
          READINESS_INTERVAL_MS: "200",
          READINESS_TIMEOUT_MS: "1000"
        })
        const body = yield* Effect.tryPromise(async () => {
          const response = await fetch(`http://127.0.0.1:${port}/readyz`)
          return await response.json() as { checks: { database?: { error?: string } } }
        }).pipe(
          Effect.filterOrFail((body) => body.checks.database?.error === "certificate not trusted"),
          Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo("15 seconds"))),
          Effect.orDieWith(() =>
            new Error(`never read certificate not trusted:\n${service.output.stdout}\n${service.output.stderr}`)
          )
        )
        expect(body.checks.database?.error).toBe("certificate not trusted")
        service.child.kill("SIGTERM")
        expect(yield* Effect.promise(() => service.exited)).toBe(0)

        const { stderr, stdout } = service.output
        // Node's printer writes "(node:PID) Warning: SECURITY WARNING: ..." and the rest on lines of their own.
        expect(stderr).not.toMatch(/\(node:\d+\)|SECURITY WARNING/)
        const warningLines = stdout.split("\n").filter((line) => line.includes("SECURITY WARNING"))
        expect(warningLines).toHaveLength(1)
        expect(warningLines[0]).toMatch(/\bWARN\b/)
        expect(warningLines[0]).toMatch(/verify-full/)
      }),
    60_000
  )
})
