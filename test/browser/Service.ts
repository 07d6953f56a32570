// The built service (`node dist/main.js`) for the browser suite: on a free loopback port, PostgreSQL direct and Redis
// behind a FaultProxy, fast readiness rounds; and headless Debian Chromium driven by playwright-core.
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import * as net from "node:net"
import { fileURLToPath } from "node:url"
import { type Browser, chromium } from "playwright-core"
import * as FaultProxy from "../support/FaultProxy.js"

const root = fileURLToPath(new URL("../../", import.meta.url))
export const intervalMillis = 250
/** A short drain: long enough to be seen, short enough that stopping stays quick. */
export const drainMillis = 500

export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })

export interface Service {
  readonly origin: string
  readonly redis: FaultProxy.FaultProxy
  readonly child: ChildProcess
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
  readonly output: () => string
  /** Kills the service if it is still running and closes the proxy. */
  readonly close: () => Promise<void>
}

export const startService = async (): Promise<Service> => {
  if (!existsSync(`${root}dist/main.js`)) {
    throw new Error("dist/main.js is missing: run `pnpm test:browser`, which builds first")
  }
  const scope = Effect.runSync(Scope.make())
  const redis = await Effect.runPromise(
    Scope.extend(FaultProxy.make({ target: { host: "127.0.0.1", port: 6379 } }), scope)
  )
  const port = await freePort()
  let output = ""
  const child = spawn(process.execPath, ["dist/main.js"], {
    cwd: root,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      DATABASE_URL: "postgres://postgres@127.0.0.1:5432/postgres",
      REDIS_URL: `redis://127.0.0.1:${redis.port}`,
      READINESS_INTERVAL_MS: String(intervalMillis),
      SHUTDOWN_DRAIN_MS: String(drainMillis)
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()))
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal }))
  )
  const origin = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 10_000
  while (true) {
    if (child.exitCode !== null) throw new Error(`the service exited at start:\n${output}`)
    // /openapi.json answers once the app is attached (liveness answers before it has loaded).
    const healthy = await fetch(`${origin}/openapi.json`).then((r) => r.ok, () => false)
    if (healthy) break
    if (Date.now() > deadline) throw new Error(`no /openapi.json within 10 s:\n${output}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  return {
    origin,
    redis,
    child,
    exited,
    output: () => output,
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
      await exited
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }
}

/** Debian's Chromium: playwright-core drives it and downloads nothing. */
export const launchBrowser = (): Promise<Browser> =>
  chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--headless",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync"
    ]
  })

/** The service's resident memory in bytes, as its /metrics reports it. */
export const residentMemory = async (origin: string): Promise<number> => {
  const text = await (await fetch(`${origin}/metrics`)).text()
  const line = /^process_resident_memory_bytes (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(text)
  if (line === null) throw new Error("no process_resident_memory_bytes in /metrics")
  return Number(line[1])
}
