// The built service (`node dist/main.js`) for the browser suite: on a free loopback port, PostgreSQL direct and Redis
// behind a FaultProxy, fast readiness rounds; and headless Debian Chromium driven by playwright-core.
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { type Browser, chromium } from "playwright-core"
import * as FaultProxy from "../support/FaultProxy.js"
import * as Support from "../support/Service.js"

export const intervalMillis = 250
/** A short drain: long enough to be seen, short enough that stopping stays quick. */
export const drainMillis = 500

export interface Service {
  readonly origin: string
  readonly redis: FaultProxy.FaultProxy
  /** Sends the process a signal. */
  readonly kill: (signal: NodeJS.Signals) => void
  readonly exited: Promise<Support.Exit>
  readonly output: () => string
  /** Kills the service if it is still running and closes the proxy. */
  readonly close: () => Promise<void>
}

/** The shared spawn (test/support/Service.ts) with Redis behind a proxy, for tests written with async/await. */
export const startService = async (): Promise<Service> => {
  const scope = Effect.runSync(Scope.make())
  const close = () => Effect.runPromise(Scope.close(scope, Exit.void))
  try {
    const redis = await Effect.runPromise(
      Scope.extend(FaultProxy.make({ target: { host: "127.0.0.1", port: 6379 } }), scope)
    )
    const service = await Effect.runPromise(Scope.extend(
      Support.spawn({
        env: {
          DATABASE_URL: "postgres://postgres@127.0.0.1:5432/postgres",
          REDIS_URL: `redis://127.0.0.1:${redis.port}`,
          READINESS_INTERVAL_MS: String(intervalMillis),
          SHUTDOWN_DRAIN_MS: String(drainMillis)
        }
      }),
      scope
    ))
    return {
      origin: service.origin,
      redis,
      kill: (signal) => Effect.runSync(service.signal(signal)),
      exited: service.exited,
      output: service.output,
      close
    }
  } catch (error) {
    await close()
    throw error
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
