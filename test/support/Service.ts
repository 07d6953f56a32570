// The built service as `pnpm start` runs it (`node dist/main.js`), spawned on a free loopback port for a test:
// waits for /healthz, keeps everything it prints, and is killed with SIGKILL when the test's scope closes.
import { Data, Duration, Effect, type Scope } from "effect"
import { type ChildProcess, spawn as spawnChild } from "node:child_process"
import { existsSync } from "node:fs"
import * as Http from "node:http"
import * as Net from "node:net"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"

export const root = fileURLToPath(new URL("../../", import.meta.url))
export const entryPoint = "dist/main.js"

export class ServiceError extends Data.TaggedError("ServiceError")<{ readonly message: string }> {}

export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  /** `performance.now()` when it exited. */
  readonly at: number
}

export interface Service {
  readonly port: number
  /** `http://127.0.0.1:<port>` */
  readonly origin: string
  readonly pid: number
  /** Settles when the process exits, for whatever reason. */
  readonly exited: Promise<Exit>
  /** Everything it wrote to stdout and stderr so far. */
  readonly output: () => string
  /** Sends a signal (SIGTERM to drain, SIGKILL to kill). */
  readonly signal: (signal: NodeJS.Signals) => Effect.Effect<void>
  /** Fails unless the process is still running: it must never exit on its own. */
  readonly assertAlive: Effect.Effect<void, ServiceError>
  /** Waits for the process to exit, failing if it is still running `within` later. */
  readonly awaitExit: (within: Duration.DurationInput) => Effect.Effect<Exit, ServiceError>
}

export interface Options {
  /** Added to (and overriding) the test process's environment; PORT and HOST are set by `spawn`. */
  readonly env?: Readonly<Record<string, string>>
  /** The port to listen on; a free one by default. */
  readonly port?: number
  /** The soft limit on open files (`ulimit -n`) to start it under; the test process's own by default. */
  readonly openFiles?: number
  /** How long to wait for the first /healthz 200. */
  readonly startWithin?: Duration.DurationInput
}

/** A loopback port that nothing listens on right now. */
export const freePort: Effect.Effect<number> = Effect.async<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as Net.AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

export interface Answer {
  /** The status, or the error code when there was no answer. */
  readonly status: number | string
  /** From opening the connection to the last byte of the response. */
  readonly elapsedMs: number
  readonly body: string
}

/** GET `path` on a new connection. */
export const get = (port: number, path: string, timeoutMillis = 2_000): Effect.Effect<Answer> =>
  Effect.async<Answer>((resume) => {
    const start = performance.now()
    let body = ""
    const answer = (status: number | string) =>
      resume(Effect.succeed({ status, elapsedMs: performance.now() - start, body }))
    const request = Http.get({ host: "127.0.0.1", port, path, agent: false, timeout: timeoutMillis }, (response) => {
      response.setEncoding("utf8")
      response.on("data", (chunk: string) => (body += chunk))
      response.on("end", () => answer(response.statusCode ?? 0))
      response.on("error", (error: NodeJS.ErrnoException) => answer(error.code ?? error.message))
    })
    request.on("timeout", () => request.destroy(Object.assign(new Error("timeout"), { code: "timeout" })))
    request.on("error", (error: NodeJS.ErrnoException) => answer(error.code ?? error.message))
    return Effect.sync(() => request.destroy())
  })

/** GET /healthz on a new connection: the status, or the error code when there is no answer. */
export const healthStatus = (port: number): Effect.Effect<number | string> =>
  Effect.map(get(port, "/healthz"), (answer) => answer.status)

const isRunning = (child: ChildProcess) => child.exitCode === null && child.signalCode === null

/** `node dist/main.js` on a loopback port; ready once the app is attached, killed when the scope closes. */
export const spawn = (options: Options = {}): Effect.Effect<Service, ServiceError, Scope.Scope> =>
  Effect.gen(function*() {
    if (!existsSync(`${root}${entryPoint}`)) {
      return yield* new ServiceError({ message: `${entryPoint} is missing: run \`pnpm build\` first` })
    }
    const port = options.port ?? (yield* freePort)
    const service = yield* Effect.acquireRelease(
      Effect.sync((): Service => {
        let output = ""
        const [command, args] = options.openFiles === undefined
          ? [process.execPath, [entryPoint]]
          : ["/bin/sh", ["-c", `ulimit -n ${options.openFiles} && exec "$0" "$@"`, process.execPath, entryPoint]]
        const child = spawnChild(command, args, {
          cwd: root,
          env: { ...process.env, ...options.env, PORT: String(port), HOST: "127.0.0.1" },
          stdio: ["ignore", "pipe", "pipe"]
        })
        child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()))
        child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()))
        const exited = new Promise<Exit>((resolve) =>
          child.once("exit", (code, signal) => resolve({ code, signal, at: performance.now() }))
        )
        return {
          port,
          origin: `http://127.0.0.1:${port}`,
          pid: child.pid ?? -1,
          exited,
          output: () => output,
          signal: (signal) => Effect.sync(() => void child.kill(signal)),
          assertAlive: Effect.suspend(() =>
            isRunning(child) ? Effect.void : Effect.fail(
              new ServiceError({
                message: `the service exited on its own (${child.exitCode ?? child.signalCode}):\n${output}`
              })
            )
          ),
          awaitExit: (within) =>
            Effect.promise(() => exited).pipe(
              Effect.timeoutFail({
                duration: within,
                onTimeout: () =>
                  new ServiceError({ message: `still running ${Duration.format(within)} later:\n${output}` })
              })
            )
        }
      }),
      // A no-op on a process that already exited.
      (service) => Effect.zipRight(service.signal("SIGKILL"), Effect.promise(() => service.exited))
    )

    // Liveness answers as soon as the listener is open; the app (every other path) is attached once it has loaded,
    // and /openapi.json answering says it has.
    const deadline = performance.now() + Duration.toMillis(options.startWithin ?? "10 seconds")
    for (const path of ["/healthz", "/openapi.json"]) {
      while ((yield* Effect.map(get(port, path), (answer) => answer.status)) !== 200) {
        yield* service.assertAlive
        if (performance.now() > deadline) {
          return yield* new ServiceError({ message: `no ${path} 200 on port ${port} in time:\n${service.output()}` })
        }
        yield* Effect.sleep("25 millis")
      }
    }
    return service
  })
