// The built entry point (dist/main.js, from src/main.ts; the project's globalSetup builds it) refusing bad
// configuration: one line naming the variable, exit 1.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ChildProcess from "node:child_process"
import * as Service from "../support/Service.js"

// A valid free port unless the test breaks PORT itself: the listener reads it first.
const start = async (env: Record<string, string>) => {
  const port = String(await Effect.runPromise(Service.freePort))
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = ChildProcess.spawn(process.execPath, [Service.entryPoint], {
      cwd: Service.root,
      env: { ...process.env, PORT: port, HOST: "127.0.0.1", ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk) => (stdout += chunk))
    child.stderr.on("data", (chunk) => (stderr += chunk))
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000)
    child.on("exit", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

describe("startup with bad configuration", () => {
  it.each([
    [{ PORT: "eighty" }, "PORT"],
    [{ DATABASE_URL: "postgres//app:s3cret@db/app" }, "DATABASE_URL"],
    [{ REDIS_URL: "tcp://:s3cret@cache:6379" }, "REDIS_URL"],
    [{ READINESS_TIMEOUT_MS: "fast" }, "READINESS_TIMEOUT_MS"]
  ])("%o stops the process with one line naming %s, no stack, no secret", async (env, variable) => {
    const result = await start(env)
    expect(result.code).toBe(1)
    const lines = result.stderr.trim().split("\n")
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(new RegExp(`^dashboard: invalid configuration: ${variable} `))
    expect(result.stderr + result.stdout).not.toMatch(/s3cret|\bat .+:\d+:\d+/)
  })

  it("a non-numeric Redis database index stops the process at start, before ioredis can SELECT NaN", async () => {
    // Every other setting valid (PORT=0 is not a valid port), so only REDIS_URL can stop it; without the check the
    // process starts, connects to the shared Redis, and dies of an unhandled rejection with a stack on stderr.
    const Net = await import("node:net")
    const probe = Net.createServer().listen(0, "127.0.0.1")
    await new Promise((resolve) => probe.once("listening", resolve))
    const { port } = probe.address() as { port: number }
    await new Promise((resolve) => probe.close(resolve))
    const result = await start({
      PORT: String(port),
      HOST: "127.0.0.1",
      REDIS_URL: "redis://:s3cret@127.0.0.1:6379/abc"
    })
    expect(result.code).toBe(1)
    expect(result.stderr.trim().split("\n")).toEqual([
      "dashboard: invalid configuration: REDIS_URL must name its database as a whole number ≥ 0 (redis://host:port/0)"
    ])
    expect(result.stderr + result.stdout).not.toMatch(/s3cret|\bat .+:\d+:\d+/)
  })

  it("a port already in use stops the process with one line", async () => {
    const Net = await import("node:net")
    const server = Net.createServer().listen(0, "127.0.0.1")
    await new Promise((resolve) => server.once("listening", resolve))
    const { port } = server.address() as { port: number }
    try {
      const result = await start({ PORT: String(port), HOST: "127.0.0.1" })
      expect(result.code).toBe(1)
      expect(result.stderr.trim()).toMatch(/^dashboard: cannot listen: .*EADDRINUSE/)
      expect(result.stderr.trim().split("\n")).toHaveLength(1)
    } finally {
      server.close()
    }
  })
})
