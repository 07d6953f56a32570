// A real HAProxy (Debian's `haproxy`) in front of servers a test controls: one frontend on a free loopback port, one
// backend health-checked with `option httpchk GET /readyz`. It runs with `retries 0` and without `option
// redispatch`, so a request that succeeds through it was answered by the server it was sent to: a test that loses no
// request proves the servers' drain, not the balancer's retries.
import { Data, Duration, Effect, Exit, Schedule, Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import * as net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"

export class HAProxyError extends Data.TaggedError("HAProxyError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

export interface Options {
  /** The backend's servers as `host:port`, named `s0`, `s1`, ... in that order. */
  readonly servers: ReadonlyArray<string>
  /** Time between two health checks of a server (default 200 ms). */
  readonly inter?: Duration.DurationInput
  /** Consecutive failed checks that mark a server DOWN (default 2). */
  readonly fall?: number
  /** Consecutive passed checks that mark a server UP again (default 2). */
  readonly rise?: number
  /** How long one check may take (default 1 s: above the service's READINESS_TIMEOUT_MS of 500 ms). */
  readonly checkTimeout?: Duration.DurationInput
  /** The health check expectation (default `status 200`); e.g. `string '"status":"ready"'` for the 200 mode. */
  readonly expect?: string
  /** `timeout server`: how long a request may wait for its answer (default 10 s). */
  readonly serverTimeout?: Duration.DurationInput
}

/** A server as `show stat` reports it. */
export interface ServerState {
  readonly name: string
  readonly address: string
  /** `UP`, `DOWN`, or on the way: `UP 1/2` (failing), `DOWN 1/2` (recovering); also `MAINT`, `DRAIN`, `no check`. */
  readonly status: string
  /** The last check's result, e.g. `L7OK`, `L7STS` (wrong status), `L4CON` (refused), `L4TOUT`. */
  readonly checkStatus: string
  /** Requests (sessions) the server has been sent. */
  readonly sessions: number
}

export interface HAProxy {
  /** `http://127.0.0.1:<frontend port>` */
  readonly origin: string
  readonly port: number
  /** The generated configuration. */
  readonly config: string
  readonly serverStates: Effect.Effect<ReadonlyArray<ServerState>, HAProxyError>
  /** Waits until the server reads exactly `status`; succeeds with how long that took. */
  readonly awaitStatus: (
    server: string,
    status: "UP" | "DOWN",
    timeout?: Duration.DurationInput
  ) => Effect.Effect<Duration.Duration, HAProxyError>
  /** One command on the runtime API (stats socket, admin level), e.g. `disable server dashboard/s0`. */
  readonly command: (command: string) => Effect.Effect<string, HAProxyError>
  /** What haproxy wrote so far: its warnings, health check changes and failed requests. */
  readonly output: () => string
}

export const backend = "dashboard"

const host = "127.0.0.1"

const millis = (duration: Duration.DurationInput) => Math.ceil(Duration.toMillis(duration))

/** The configuration `make` runs, for a frontend port and a stats socket path. */
export const configFor = (options: Options, port: number, socket: string): string => {
  const inter = millis(options.inter ?? "200 millis")
  const servers = options.servers.map((address, i) => `  server s${i} ${address} check`)
  return [
    "global",
    `  stats socket ${socket} mode 600 level admin`,
    "  log stderr format raw local0 info",
    "  maxconn 2000",
    "",
    "defaults",
    "  mode http",
    "  log global",
    // Health check changes and failed requests only: a load test would otherwise log every request.
    "  option log-health-checks",
    "  option dontlog-normal",
    "  timeout connect 1s",
    "  timeout client 10s",
    `  timeout server ${millis(options.serverTimeout ?? "10 seconds")}ms`,
    `  timeout check ${millis(options.checkTimeout ?? "1 second")}ms`,
    "  retries 0",
    "  no option redispatch",
    "",
    "frontend http",
    `  bind ${host}:${port}`,
    `  default_backend ${backend}`,
    "",
    `backend ${backend}`,
    "  balance roundrobin",
    "  option httpchk GET /readyz",
    `  http-check expect ${options.expect ?? "status 200"}`,
    `  default-server inter ${inter}ms fall ${options.fall ?? 2} rise ${options.rise ?? 2}`,
    ...servers,
    ""
  ].join("\n")
}

const freePort = Effect.async<number, HAProxyError>((resume) => {
  const server = net.createServer()
  server.once("error", (cause) => resume(Effect.fail(new HAProxyError({ message: "no free port", cause }))))
  server.listen(0, host, () => {
    const { port } = server.address() as net.AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

const accepts = (port: number) =>
  Effect.async<boolean>((resume) => {
    const socket = net.connect({ host, port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => resume(Effect.succeed(false)))
  })

const runtimeCommand = (socket: string, command: string) =>
  Effect.async<string, HAProxyError>((resume) => {
    let answer = ""
    const connection = net.connect({ path: socket })
    connection.setEncoding("utf8")
    connection.on("data", (chunk: string) => (answer += chunk))
    connection.once("error", (cause) =>
      resume(Effect.fail(new HAProxyError({ message: `runtime API: ${command}`, cause }))))
    // Without `prompt`, haproxy answers one command and closes the connection.
    connection.once("close", (hadError) =>
      hadError || resume(Effect.succeed(answer)))
    connection.write(`${command}\n`)
    return Effect.sync(() => connection.destroy())
  })

const parseStat = (csv: string): ReadonlyArray<ServerState> => {
  const [header = "", ...rows] = csv.trim().split("\n")
  const columns = header.replace(/^# /, "").split(",")
  const column = (row: ReadonlyArray<string>, name: string) => row[columns.indexOf(name)] ?? ""
  return rows
    .map((line) => line.split(","))
    .filter((row) => column(row, "pxname") === backend && !["FRONTEND", "BACKEND"].includes(column(row, "svname")))
    .map((row) => ({
      name: column(row, "svname"),
      address: column(row, "addr"),
      status: column(row, "status"),
      checkStatus: column(row, "check_status"),
      sessions: Number(column(row, "stot"))
    }))
}

interface Running {
  readonly process: ChildProcess
  readonly exited: Promise<void>
  readonly output: () => string
}

/** Starts haproxy on `port`; fails when it exits before its frontend accepts (e.g. another process took the port). */
const launch = (config: string, dir: string, port: number) =>
  Effect.gen(function*() {
    const file = join(dir, "haproxy.cfg")
    yield* Effect.tryPromise({
      try: () => writeFile(file, config),
      catch: (cause) => new HAProxyError({ message: "cannot write the configuration", cause })
    })
    const running = yield* Effect.acquireRelease(
      Effect.try({
        try: (): Running => {
          let output = ""
          const process_ = spawn("haproxy", ["-f", file, "-db"], { stdio: ["ignore", "pipe", "pipe"] })
          // Bounded: a long load test with failures must not grow this without end.
          const append = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-65_536))
          process_.stdout!.on("data", append)
          process_.stderr!.on("data", append)
          const exited = new Promise<void>((resolve) => {
            process_.once("error", (cause) => {
              output += `\n${cause}`
              resolve()
            })
            process_.once("exit", () => resolve())
          })
          return { process: process_, exited, output: () => output }
        },
        catch: (cause) => new HAProxyError({ message: "cannot start haproxy", cause })
      }),
      ({ exited, process: process_ }) =>
        Effect.promise(async () => {
          if (process_.exitCode !== null || process_.signalCode !== null) return
          process_.kill("SIGTERM")
          const killer = setTimeout(() => process_.kill("SIGKILL"), 2_000)
          await exited
          clearTimeout(killer)
        })
    )
    const alive = () => running.process.exitCode === null && running.process.signalCode === null
    yield* Effect.suspend(() =>
      alive()
        ? accepts(port)
        : Effect.fail(new HAProxyError({ message: `haproxy exited:\n${running.output()}` }))
    ).pipe(
      Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (ok) => ok }),
      Effect.timeoutFail({
        duration: "10 seconds",
        onTimeout: () => new HAProxyError({ message: `haproxy did not accept within 10 s:\n${running.output()}` })
      })
    )
    return running
  })

export const make = (options: Options): Effect.Effect<HAProxy, HAProxyError, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => mkdtemp(join(tmpdir(), "haproxy-")),
        catch: (cause) => new HAProxyError({ message: "cannot make a temporary directory", cause })
      }),
      (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
    )
    const socket = join(dir, "admin.sock")

    // A free port can be taken between our check and haproxy's bind: start again on another one.
    const { config, port, running } = yield* Effect.gen(function*() {
      const port = yield* freePort
      const config = configFor(options, port, socket)
      const running = yield* launch(config, dir, port)
      return { config, port, running }
    }).pipe(Effect.retry({ times: 3, while: (error) => error.message.includes("cannot bind socket") }))

    const command = (text: string) => runtimeCommand(socket, text)
    const serverStates = Effect.map(command("show stat"), parseStat)

    const awaitStatus = (server: string, status: "UP" | "DOWN", timeout: Duration.DurationInput = "10 seconds") =>
      Effect.gen(function*() {
        const start = performance.now()
        let last: ServerState | undefined
        yield* serverStates.pipe(
          Effect.map((states) => (last = states.find((s) => s.name === server))?.status === status),
          Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (reached) => reached }),
          Effect.timeoutFail({
            duration: timeout,
            onTimeout: () =>
              new HAProxyError({
                message: `${server} is not ${status} after ${Duration.format(timeout)}: ${
                  JSON.stringify(last)
                }\n${running.output()}`
              })
          })
        )
        return Duration.millis(performance.now() - start)
      })

    return {
      origin: `http://${host}:${port}`,
      port,
      config,
      serverStates,
      awaitStatus,
      command,
      output: running.output
    } satisfies HAProxy
  })

/** `make` for code that is not an Effect: `await haproxy.close()` instead of closing a scope. */
export const start = async (options: Options): Promise<HAProxy & { readonly close: () => Promise<void> }> => {
  const scope = Effect.runSync(Scope.make())
  const exit = await Effect.runPromiseExit(Scope.extend(make(options), scope))
  if (Exit.isFailure(exit)) {
    await Effect.runPromise(Scope.close(scope, exit))
    return Effect.runPromise(Effect.failCause(exit.cause))
  }
  return { ...exit.value, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}
