// Private Redis and PostgreSQL servers for tests that must break one: started from the binaries on this machine on a
// free loopback port, as Effect scoped resources, and stopped (their files removed) when the scope closes. The shared
// servers on 6379 and 5432 are never touched.
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import Pg from "pg"

/** A loopback port nothing listens on right now. */
export const freePort: Effect.Effect<number> = Effect.async<number>((resume) => {
  const server = Net.createServer().listen(0, "127.0.0.1", () => {
    const { port } = server.address() as Net.AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

const run = (command: string, args: ReadonlyArray<string>, options: ChildProcess.ExecFileOptions = {}) =>
  Effect.async<string, Error>((resume) => {
    ChildProcess.execFile(command, [...args], { timeout: 60_000, ...options }, (error, stdout, stderr) => {
      resume(
        error === null
          ? Effect.succeed(String(stdout))
          : Effect.fail(new Error(`${command} ${args.join(" ")} failed: ${error.message}\n${String(stderr)}`))
      )
    })
  })

/** Polls `attempt` until it succeeds, dying after `withinMs`. */
const waitUntil = <A, E>(what: string, attempt: Effect.Effect<A, E>, withinMs = 20_000) =>
  attempt.pipe(
    Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo(`${withinMs} millis`))),
    Effect.orDieWith((error) => new Error(`${what} did not come up: ${String(error)}`))
  )

const tempDir = (prefix: string) =>
  Effect.acquireRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), prefix))),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )

export interface RedisOptions {
  readonly password?: string
  readonly databases?: number
  readonly maxclients?: number
}

export interface PrivateRedis {
  readonly port: number
  /** A URL for the service; `password` defaults to the server's, `user` and `database` to none. */
  readonly url: (
    options?: { readonly user?: string; readonly password?: string; readonly database?: string }
  ) => Redacted.Redacted
  /** Runs one command with redis-cli (itself one connection to the server) and returns its output. */
  readonly command: (...args: ReadonlyArray<string>) => Effect.Effect<string, Error>
  /** `INFO stats` total_connections_received, not counting the connection that asks. */
  readonly connectionsReceived: Effect.Effect<number, Error>
  /** `INFO clients` connected_clients, not counting the connection that asks. */
  readonly connectedClients: Effect.Effect<number, Error>
  /** Kills the server (connections are cut, the port refuses). */
  readonly stop: Effect.Effect<void>
  /** Starts it again on the same port (empty), after `stop`. */
  readonly start: Effect.Effect<void>
}

/** A private redis-server: no persistence, on a free port, stopped with the scope. */
export const redis = (options: RedisOptions = {}): Effect.Effect<PrivateRedis, never, Scope.Scope> =>
  Effect.gen(function*() {
    const port = yield* freePort
    const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    if (options.password !== undefined) args.push("--requirepass", options.password)
    if (options.databases !== undefined) args.push("--databases", String(options.databases))
    if (options.maxclients !== undefined) args.push("--maxclients", String(options.maxclients))
    let child: ChildProcess.ChildProcess | undefined = undefined
    const stop = Effect.async<void>((resume) => {
      const running = child
      child = undefined
      if (running === undefined || running.exitCode !== null || running.signalCode !== null) {
        return resume(Effect.void)
      }
      running.once("exit", () => resume(Effect.void))
      running.kill("SIGKILL")
    })
    const spawn = Effect.sync(() => {
      child = ChildProcess.spawn("redis-server", args, { stdio: "ignore" })
    })
    yield* Effect.acquireRelease(spawn, () => stop)
    const cliAuth = options.password === undefined ? [] : ["--no-auth-warning", "-a", options.password]
    const command = (...command: ReadonlyArray<string>) =>
      run("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...cliAuth, ...command]).pipe(
        Effect.map((output) => output.trim())
      )
    // A counter from INFO, less the connection asking for it.
    const infoField = (section: string, field: string) =>
      command("INFO", section).pipe(
        Effect.flatMap((info) => {
          const match = new RegExp(`${field}:(\\d+)`).exec(info)
          return match === null
            ? Effect.fail(new Error(`no ${field} in INFO: ${info}`))
            : Effect.succeed(Number(match[1]) - 1)
        })
      )
    const up = waitUntil(
      "redis-server",
      command("PING").pipe(Effect.filterOrFail((reply) => reply === "PONG", (reply) => new Error(reply)))
    )
    yield* up
    return {
      stop,
      start: Effect.zipRight(spawn, up),
      port,
      url: (url = {}) => {
        const password = url.password ?? options.password
        const user = url.user === undefined ? "" : encodeURIComponent(url.user)
        const auth = password === undefined ? "" : `${user}:${encodeURIComponent(password)}@`
        return Redacted.make(`redis://${auth}127.0.0.1:${port}${url.database === undefined ? "" : `/${url.database}`}`)
      },
      command,
      connectionsReceived: infoField("stats", "total_connections_received"),
      connectedClients: infoField("clients", "connected_clients")
    } satisfies PrivateRedis
  })

export interface PostgresOptions {
  readonly maxConnections?: number
  /** Serve TLS with a freshly generated self-signed certificate (CN=localhost). */
  readonly ssl?: boolean
}

export interface PrivatePostgres {
  readonly port: number
  /** A URL for the service as the superuser `postgres` (trust auth), with an optional query string. */
  readonly url: (query?: string) => Redacted.Redacted
  /** Opens a plain pg client and holds it until the scope closes (to fill `max_connections`). */
  readonly hold: Effect.Effect<Pg.Client, Error, Scope.Scope>
}

const postgresBin = Effect.sync(() => {
  const root = "/usr/lib/postgresql"
  const version = Fs.readdirSync(root).sort((a, b) => Number(b) - Number(a))[0]
  if (version === undefined) throw new Error(`no PostgreSQL under ${root}`)
  return (name: string) => Path.join(root, version, "bin", name)
})

// PostgreSQL refuses to run as root: everything is run as `postgres` when the tests run as root.
const asPostgres = (command: string, args: ReadonlyArray<string>) =>
  process.getuid?.() === 0 ? run("runuser", ["-u", "postgres", "--", command, ...args]) : run(command, args)

const postgresUid = Effect.sync(() => {
  const passwd = Fs.readFileSync("/etc/passwd", "utf8").split("\n").find((line) => line.startsWith("postgres:"))
  const [, , uid, gid] = passwd?.split(":") ?? []
  return uid === undefined || gid === undefined ? undefined : { uid: Number(uid), gid: Number(gid) }
})

/** A private PostgreSQL cluster (initdb, trust auth), on a free port, stopped and removed with the scope. */
export const postgres = (options: PostgresOptions = {}): Effect.Effect<PrivatePostgres, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const bin = yield* postgresBin
    const root = yield* tempDir("dashboard-pg-")
    const owner = yield* postgresUid
    if (process.getuid?.() === 0 && owner !== undefined) Fs.chownSync(root, owner.uid, owner.gid)
    const data = Path.join(root, "data")
    yield* asPostgres(bin("initdb"), ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
    const port = yield* freePort
    const settings = [
      `-p ${port}`,
      "-k /tmp",
      "-c listen_addresses=127.0.0.1",
      "-c fsync=off",
      ...(options.maxConnections === undefined
        ? []
        : [`-c max_connections=${options.maxConnections}`, "-c superuser_reserved_connections=0"])
    ]
    if (options.ssl === true) {
      yield* run("openssl", [
        "req",
        "-new",
        "-x509",
        "-days",
        "2",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        Path.join(data, "server.key"),
        "-out",
        Path.join(data, "server.crt")
      ])
      Fs.chmodSync(Path.join(data, "server.key"), 0o600)
      if (process.getuid?.() === 0 && owner !== undefined) {
        Fs.chownSync(Path.join(data, "server.key"), owner.uid, owner.gid)
        Fs.chownSync(Path.join(data, "server.crt"), owner.uid, owner.gid)
      }
      settings.push("-c ssl=on")
    }
    yield* Effect.acquireRelease(
      asPostgres(bin("pg_ctl"), ["-D", data, "-l", Path.join(data, "log"), "-o", settings.join(" "), "-w", "start"]),
      () => asPostgres(bin("pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"]).pipe(Effect.ignore)
    )
    const url = (query?: string) =>
      Redacted.make(`postgres://postgres@127.0.0.1:${port}/postgres${query === undefined ? "" : `?${query}`}`)
    const hold = Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const client = new Pg.Client({ host: "127.0.0.1", port, user: "postgres", database: "postgres" })
          client.on("error", () => {})
          await client.connect()
          return client
        },
        catch: (cause) => new Error(`could not hold a connection: ${String(cause)}`)
      }),
      (client) => Effect.promise(() => client.end().catch(() => {}))
    )
    return { port, url, hold } satisfies PrivatePostgres
  })
