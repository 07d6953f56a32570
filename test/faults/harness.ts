// The faults harness: the whole service built in-process with one FaultProxy in front of each dependency, probed
// over real HTTP (so the Node fast path is exercised), plus what every scenario needs to wait for a report, time it
// and fail on a crash.
import * as HttpServer from "@effect/platform/HttpServer"
import { afterAll, afterEach, beforeEach, expect } from "@effect/vitest"
import {
  Cause,
  Context,
  Data,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Logger,
  LogLevel,
  Redacted,
  Schema,
  type Scope
} from "effect"
import { appendFileSync } from "node:fs"
import * as Http from "node:http"
import { performance } from "node:perf_hooks"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import * as App from "../../src/App.js"
import * as Edge from "../../src/Edge.js"
import { Health, ReadinessReport } from "../../src/http/Api.js"
import { Listener, type ListenError } from "../../src/http/Listener.js"
import { Database } from "../../src/layers/Database.js"
import { check, type FailureReason } from "../../src/layers/Dependency.js"
import { Redis } from "../../src/layers/Redis.js"
import { ReadinessSettings } from "../../src/Readiness.js"
import { ShutdownSettings } from "../../src/Shutdown.js"
import * as FaultProxy from "../support/FaultProxy.js"
import { Fault } from "../support/FaultProxy.js"

/** READINESS_TIMEOUT_MS: the budget of each check, and so of each probe that has to wait for a round. */
export const budgetMillis = 500
/**
 * The readiness interval: a round starts once the snapshot is this old. Kept small so that "within one probe"
 * means something: a fault that fails fast (a refused connection) is in the snapshot one interval (plus the few
 * milliseconds of the round) after it began, so every probe sent after that must say so.
 */
export const intervalMillis = 100
/**
 * A hang is first reported by the first round that starts after it, which gives up one budget later; until then
 * probes are served the previous snapshot (it only becomes overdue past interval + budget). 150 ms of slack.
 */
export const hangSettleMillis = intervalMillis + budgetMillis + 150
/** What every probe must answer within while a dependency hangs: the budget plus 100 ms. */
export const probeBoundMillis = budgetMillis + 100
/** How soon the report must read ready again once the fault is lifted. */
export const recoveryBoundMillis = 1_000

export type DependencyName = "database" | "redis"

export interface Dependency {
  readonly name: DependencyName
  readonly label: string
  readonly target: { readonly host: string; readonly port: number }
  /** The most connections the client keeps: the pool maximum, or the single Redis connection. */
  readonly maxConnections: number
  readonly url: (port: number) => string
}

const databaseMaxConnections = 10

export const dependencies: ReadonlyArray<Dependency> = [
  {
    name: "database",
    label: "PostgreSQL",
    target: { host: "127.0.0.1", port: 5432 },
    maxConnections: databaseMaxConnections,
    url: (port) => `postgres://postgres@127.0.0.1:${port}/postgres`
  },
  {
    name: "redis",
    label: "Redis",
    target: { host: "127.0.0.1", port: 6379 },
    maxConnections: 1,
    url: (port) => `redis://127.0.0.1:${port}`
  }
]

export const dependency = (name: DependencyName): Dependency => dependencies.find((d) => d.name === name)!
export const otherThan = (name: DependencyName): DependencyName => name === "database" ? "redis" : "database"

/** Milliseconds on a monotonic clock. */
export const now = () => performance.now()

// ---------------------------------------------------------------------------------------------------------------
// Crashes: any unhandled rejection, uncaught exception, process.exit or error-level log line fails the test it
// happened in (or the next one, for a late rejection). Vitest itself also makes process.exit throw in a worker.

const incidents: Array<string> = []
let guarded = false

const installGuard = () => {
  if (guarded) return
  guarded = true
  process.on("unhandledRejection", (reason) => void incidents.push(`unhandledRejection: ${describeError(reason)}`))
  process.on("uncaughtException", (error) => void incidents.push(`uncaughtException: ${describeError(error)}`))
  const exit = process.exit.bind(process)
  process.exit = ((code?: number | string | null) => {
    incidents.push(`process.exit(${code ?? ""})`)
    return exit(code)
  }) as typeof process.exit
}

const describeError = (error: unknown) =>
  error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ""}` : String(error)

/** Registers the crash guard around every test of the calling file. */
export const useGuard = () => {
  installGuard()
  const check = () => {
    const found = incidents.splice(0)
    expect(found, "no crash, unhandled rejection or error log").toEqual([])
  }
  beforeEach(check)
  afterEach(check)
}

/** Error-level log lines become incidents: in these scenarios they mean a defect inside a check. */
const captureLogger = Logger.make(({ logLevel, message }) => {
  if (LogLevel.greaterThanEqual(logLevel, LogLevel.Error)) {
    incidents.push(`error log: ${Array.isArray(message) ? message.join(" ") : String(message)}`)
  }
})

// ---------------------------------------------------------------------------------------------------------------
// Measurements: printed at the end of each file, and appended as JSON lines to $DASHBOARD_FAULTS_METRICS if set.

const measurements: Array<{ readonly scenario: string; readonly metric: string; readonly value: number }> = []

export const record = (scenario: string, metric: string, value: number) =>
  Effect.sync(() => void measurements.push({ scenario, metric, value: Math.round(value * 10) / 10 }))

export const useMeasurements = () =>
  afterAll(() => {
    const lines = measurements.splice(0)
    if (lines.length === 0) return
    console.log(lines.map(({ metric, scenario, value }) => `[faults] ${scenario} | ${metric} = ${value}`).join("\n"))
    const file = process.env.DASHBOARD_FAULTS_METRICS
    if (file !== undefined && file !== "") {
      appendFileSync(file, lines.map((line) => JSON.stringify(line)).join("\n") + "\n")
    }
  })

// ---------------------------------------------------------------------------------------------------------------
// Probes

export class ProbeError
  extends Data.TaggedError("ProbeError")<{ readonly message: string; readonly cause?: unknown }>
{}

export class BoundExceeded extends Data.TaggedError("BoundExceeded")<{
  readonly message: string
  readonly last?: ReadinessReport | undefined
}> {}

export type ReadinessReport = typeof ReadinessReport.Type

export interface Timed<A> {
  readonly value: A
  /** When the request was sent (`now()`). */
  readonly sentAt: number
  /** From sending the request to the last byte of the response. */
  readonly latencyMs: number
}

const decodeReport = Schema.decodeUnknownEither(Schema.parseJson(ReadinessReport))
const decodeHealth = Schema.decodeUnknownEither(Schema.parseJson(Health))

const get = (port: number, path: string, agent: Http.Agent | false) =>
  Effect.async<Timed<string>, ProbeError>((resume) => {
    const sentAt = now()
    const request = Http.get({ host: "127.0.0.1", port, path, agent, timeout: 10_000 }, (response) => {
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on(
        "error",
        (cause) => resume(Effect.fail(new ProbeError({ message: `${path}: response failed`, cause })))
      )
      response.on("end", () => {
        const latencyMs = now() - sentAt
        if (response.statusCode !== 200) {
          return resume(Effect.fail(new ProbeError({ message: `${path} answered ${response.statusCode}` })))
        }
        resume(Effect.succeed({ value: Buffer.concat(chunks).toString("utf8"), sentAt, latencyMs }))
      })
    })
    request.on("timeout", () => request.destroy(new Error("no answer within 10 s")))
    request.on("error", (cause) => resume(Effect.fail(new ProbeError({ message: `${path}: request failed`, cause }))))
    return Effect.sync(() => request.destroy())
  })

/** A readiness report that breaks the contract: malformed, inconsistent, or showing a defect. */
const violation = (report: ReadinessReport): string | undefined => {
  const checks = Object.entries(report.checks)
  if (checks.length !== 2) return "expected exactly the database and redis checks"
  const allUp = checks.every(([, check]) => check.status === "up")
  if ((report.status === "ready") !== allUp) return "status disagrees with the checks"
  for (const [name, check] of checks) {
    if (check.status === "down" && check.error === undefined) return `${name} is down without a reason`
    if (check.status === "up" && check.error !== undefined) return `${name} is up with an error`
    if (check.error === "internal error") return `${name} reported a defect`
  }
  return undefined
}

/** `/healthz` on `port`: 200 with `{"status":"ok"}`. `agent: false` opens a connection per request. */
export const healthzAt = (port: number, agent: Http.Agent | false = false) =>
  Effect.flatMap(get(port, "/healthz", agent), (timed) => {
    const decoded = decodeHealth(timed.value)
    return decoded._tag === "Right"
      ? Effect.succeed({ ...timed, value: decoded.right })
      : Effect.fail(new ProbeError({ message: `/healthz body: ${timed.value}` }))
  })

/** `/readyz` on `port`: 200 with a complete report that keeps the contract, or a ProbeError. */
export const readyzAt = (port: number, agent: Http.Agent | false = false) =>
  Effect.flatMap(get(port, "/readyz", agent), (timed) => {
    const decoded = decodeReport(timed.value)
    if (decoded._tag === "Left") return Effect.fail(new ProbeError({ message: `/readyz body: ${timed.value}` }))
    const broken = violation(decoded.right)
    return broken === undefined
      ? Effect.succeed({ ...timed, value: decoded.right })
      : Effect.fail(new ProbeError({ message: `/readyz broke the contract (${broken}): ${timed.value}` }))
  })

// ---------------------------------------------------------------------------------------------------------------
// The service under test

export interface Service {
  readonly port: number
  readonly proxies: Readonly<Record<DependencyName, FaultProxy.FaultProxy>>
  /** Sets the fault of one dependency's proxy. */
  readonly set: (name: DependencyName, fault: Fault) => Effect.Effect<void, FaultProxy.FaultProxyError>
  readonly healthz: Effect.Effect<Timed<typeof Health.Type>, ProbeError>
  /** A `/readyz` that must answer 200 with a report that keeps the contract. */
  readonly readyz: Effect.Effect<Timed<ReadinessReport>, ProbeError>
}

export interface StartOptions {
  readonly initial?: Partial<Record<DependencyName, Fault>>
  /** The readiness interval, `intervalMillis` unless a scenario needs rounds more often. */
  readonly intervalMillis?: number
}

export const start = (
  options: StartOptions = {}
): Effect.Effect<Service, FaultProxy.FaultProxyError | ListenError, Scope.Scope> =>
  Effect.gen(function*() {
    const proxies = {} as Record<DependencyName, FaultProxy.FaultProxy>
    for (const { name, target } of dependencies) {
      const initial = options.initial?.[name]
      proxies[name] = yield* FaultProxy.make(initial === undefined ? { target } : { target, initial })
    }

    const address = yield* Deferred.make<HttpServer.Address>()
    const url = (name: DependencyName) => Redacted.make(dependency(name).url(proxies[name].port))
    const app = App.make({
      dependencies: [
        check(
          Database,
          Database.layer({ url: url("database"), timeout: budgetMillis, maxConnections: databaseMaxConnections })
        ),
        check(Redis, Redis.layer({ url: url("redis"), timeout: budgetMillis }))
      ],
      settings: ReadinessSettings.make({
        timeout: Duration.millis(budgetMillis),
        interval: Duration.millis(options.intervalMillis ?? intervalMillis)
      })
    }).pipe(
      Layer.tap((context) => Deferred.succeed(address, Context.get(context, HttpServer.HttpServer).address)),
      Layer.provideMerge(
        Edge.make(
          Listener.layer({ port: 0, host: "127.0.0.1" }),
          Layer.succeed(ShutdownSettings, { drain: Duration.zero, timeout: Duration.seconds(4) })
        )
      )
    )
    yield* Layer.build(app).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, captureLogger)))
    const bound = yield* Deferred.await(address)
    if (bound._tag !== "TcpAddress") return yield* Effect.die("the server is not listening on TCP")

    const agent = yield* Effect.acquireRelease(
      Effect.sync(() => new Http.Agent({ keepAlive: true, maxSockets: 16 })),
      (agent) => Effect.sync(() => agent.destroy())
    )

    const healthz = healthzAt(bound.port, agent)
    const readyz = readyzAt(bound.port, agent)

    return {
      port: bound.port,
      proxies,
      set: (name, fault) => proxies[name].set(fault),
      healthz,
      readyz
    } satisfies Service
  })

// ---------------------------------------------------------------------------------------------------------------
// Reading reports

export const isReady = (report: ReadinessReport) => report.status === "ready"

/** Not ready because of `name` alone, for one of `reasons`; every other dependency is up. */
/** A dependency that goes away under a live connection may first be seen closed or reset, then refused. */
export const goneReasons: ReadonlyArray<FailureReason> = ["connection refused", "connection reset", "connection closed"]

export const isOnlyDown = (name: DependencyName, reasons: ReadonlyArray<FailureReason>) => (report: ReadinessReport) =>
  report.status === "not ready" &&
  Object.entries(report.checks).every(([check, result]) =>
    check === name
      ? result.status === "down" && result.error !== undefined && reasons.includes(result.error)
      : result.status === "up"
  )

/** Not ready with each named dependency down for one of its reasons. */
export const isDown =
  (expected: Partial<Record<DependencyName, ReadonlyArray<FailureReason>>>) => (report: ReadinessReport) =>
    report.status === "not ready" &&
    Object.entries(expected).every(([name, reasons]) => {
      const result = report.checks[name]
      return result !== undefined && result.status === "down" && result.error !== undefined &&
        reasons!.includes(result.error)
    })

export const summary = (report: ReadinessReport | undefined) =>
  report === undefined
    ? "no report"
    : `${report.status} (${
      Object.entries(report.checks).map(([name, check]) =>
        `${name} ${check.status}${check.error ? ` ${check.error}` : ""}`
      )
        .join(", ")
    }, age ${report.ageMs} ms)`

/**
 * Probes `/readyz` back to back until `predicate` holds and returns how long after `since` the first matching
 * answer arrived; fails when that takes longer than `within`.
 */
export const awaitReport = (
  service: Pick<Service, "readyz">,
  what: string,
  predicate: (report: ReadinessReport) => boolean,
  options: { readonly within: number; readonly since?: number }
) =>
  Effect.gen(function*() {
    const since = options.since ?? now()
    let last: ReadinessReport | undefined
    while (true) {
      const probe = yield* service.readyz
      last = probe.value
      const elapsedMs = probe.sentAt + probe.latencyMs - since
      if (predicate(probe.value)) return { elapsedMs, report: probe.value }
      if (elapsedMs > options.within) {
        return yield* new BoundExceeded({
          message: `${what}: not seen within ${options.within} ms; last report: ${summary(last)}`,
          last
        })
      }
      yield* Effect.sleep(10)
    }
  })

/**
 * Lifts the fault of each named dependency (pass) and probes until the report reads ready, which must happen within
 * `within` (recoveryBoundMillis) of lifting them. `elapsedMs` counts from `passAt`, when the faults were lifted.
 */
export const recover = (
  service: Pick<Service, "set" | "readyz">,
  names: ReadonlyArray<DependencyName>,
  options: { readonly what?: string; readonly within?: number } = {}
) =>
  Effect.gen(function*() {
    const passAt = now()
    yield* Effect.all(names.map((name) => service.set(name, Fault.pass)), { concurrency: "unbounded", discard: true })
    const ready = yield* awaitReport(service, options.what ?? "ready after pass", isReady, {
      within: options.within ?? recoveryBoundMillis,
      since: passAt
    })
    return { ...ready, passAt }
  })

/** Probes `/readyz` back to back for `durationMs`, keeping every answer. */
export const watch = (service: Service, durationMs: number, pauseMs = 10) =>
  Effect.gen(function*() {
    const until = now() + durationMs
    const probes: Array<Timed<ReadinessReport>> = []
    while (now() < until) {
      probes.push(yield* service.readyz)
      yield* Effect.sleep(pauseMs)
    }
    return probes
  })

/** Probes `/healthz` in the background until the returned effect is run, which yields every answer. */
export const watchHealth = (service: Service, pauseMs = 20) =>
  Effect.gen(function*() {
    const probes: Array<Timed<unknown>> = []
    const fiber = yield* Effect.fork(
      service.healthz.pipe(
        Effect.tap((probe) => void probes.push(probe)),
        Effect.zipRight(Effect.sleep(pauseMs)),
        Effect.forever
      )
    )
    return Effect.flatMap(Fiber.interrupt(fiber), (exit) =>
      Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)
        ? Effect.failCause(exit.cause)
        : Effect.succeed(probes as ReadonlyArray<Timed<unknown>>))
  })

export const maxLatency = (probes: ReadonlyArray<Timed<unknown>>) =>
  probes.reduce((max, probe) => Math.max(max, probe.latencyMs), 0)

// ---------------------------------------------------------------------------------------------------------------
// Memory

let exposedGc: (() => void) | undefined

/** Node's `gc()` without restarting the worker with --expose-gc. */
export const collectGarbage = Effect.sync(() => {
  if (exposedGc === undefined) {
    v8.setFlagsFromString("--expose-gc")
    exposedGc = vm.runInNewContext("gc") as () => void
  }
  exposedGc()
  exposedGc()
  return process.memoryUsage()
})
