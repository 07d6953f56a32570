// A private Prometheus for tests: Debian's `prometheus` on a free loopback port, scraping the given targets every
// second with the rules of deploy/prometheus loaded, its storage in a temporary directory; stopped and removed with
// the scope. Its HTTP API is read through typed, Schema-decoded helpers. Ready in well under a second, but the first
// scrape comes about 5 s after start: Prometheus 2.42's discovery manager hands targets over every 5 s, fixed.
import { Data, Deferred, Duration, Effect, Option, ParseResult, Schedule, Schema, type Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs/promises"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

export class PrometheusError extends Data.TaggedError("PrometheusError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** The rule files of deploy/prometheus, as the real deployment loads them. */
export const ruleFiles: ReadonlyArray<string> = ["recording.yml", "alerts.yml"].map((file) =>
  fileURLToPath(new URL(`../../deploy/prometheus/${file}`, import.meta.url))
)

export interface ScrapeTarget {
  readonly job: string
  /** `host:port` */
  readonly address: string
  readonly metricsPath?: string
}

export interface Options {
  readonly targets: ReadonlyArray<ScrapeTarget>
  /** Adds the job `prometheus`, scraping this Prometheus's own /metrics. */
  readonly scrapeSelf?: boolean
  /** `ruleFiles` unless given. */
  readonly ruleFiles?: ReadonlyArray<string>
  /** Scrape and evaluation interval, 1 s unless given. */
  readonly interval?: Duration.DurationInput
  /** How long Prometheus may take to answer /-/ready; 20 s unless given (a busy machine). */
  readonly readyTimeout?: Duration.DurationInput
  /** How long SIGTERM may take before SIGKILL; 5 s unless given. */
  readonly stopTimeout?: Duration.DurationInput
}

// ---------------------------------------------------------------------------------------------------------------
// The API's answers: only the fields tests read (others are ignored by the decoder).

/** A sample value: Prometheus sends numbers as strings, with `+Inf`, `-Inf` and `NaN`. */
const SampleValue = Schema.transformOrFail(Schema.String, Schema.Number, {
  strict: true,
  decode: (text, _, ast) => {
    if (text === "+Inf") return ParseResult.succeed(Infinity)
    if (text === "-Inf") return ParseResult.succeed(-Infinity)
    const value = Number(text)
    return text === "NaN" || !Number.isNaN(value)
      ? ParseResult.succeed(value)
      : ParseResult.fail(new ParseResult.Type(ast, text, `not a sample value: ${text}`))
  },
  encode: (value) => ParseResult.succeed(Number.isNaN(value) ? "NaN" : value === Infinity ? "+Inf" : String(value))
})

const Labels = Schema.Record({ key: Schema.String, value: Schema.String })

export const Sample = Schema.Struct({
  metric: Labels,
  /** [unix seconds, value] */
  value: Schema.Tuple(Schema.Number, SampleValue)
})
export type Sample = typeof Sample.Type

const QueryData = Schema.Struct({ resultType: Schema.Literal("vector"), result: Schema.Array(Sample) })

export const Alert = Schema.Struct({
  labels: Labels,
  annotations: Labels,
  state: Schema.Literal("pending", "firing", "inactive"),
  activeAt: Schema.optional(Schema.String),
  value: Schema.String
})
export type Alert = typeof Alert.Type

const AlertsData = Schema.Struct({ alerts: Schema.Array(Alert) })

export const Target = Schema.Struct({
  labels: Labels,
  scrapePool: Schema.String,
  scrapeUrl: Schema.String,
  health: Schema.Literal("up", "down", "unknown"),
  lastError: Schema.String
})
export type Target = typeof Target.Type

const TargetsData = Schema.Struct({ activeTargets: Schema.Array(Target) })

export const Rule = Schema.Struct({
  name: Schema.String,
  type: Schema.Literal("recording", "alerting"),
  health: Schema.String,
  lastError: Schema.optional(Schema.String)
})
export const RuleGroup = Schema.Struct({ name: Schema.String, file: Schema.String, rules: Schema.Array(Rule) })
export type RuleGroup = typeof RuleGroup.Type

const RulesData = Schema.Struct({ groups: Schema.Array(RuleGroup) })

const Envelope = <A, I>(data: Schema.Schema<A, I>) =>
  Schema.Union(
    Schema.Struct({ status: Schema.Literal("success"), data }),
    Schema.Struct({ status: Schema.Literal("error"), errorType: Schema.String, error: Schema.String })
  )

// ---------------------------------------------------------------------------------------------------------------

export interface Prometheus {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  /** The temporary directory holding the configuration and the storage; removed with the scope. */
  readonly directory: string
  /** An instant query (/api/v1/query); fails unless the result is an instant vector. */
  readonly query: (promql: string) => Effect.Effect<ReadonlyArray<Sample>, PrometheusError>
  /** Pending and firing alerts (/api/v1/alerts). */
  readonly alerts: Effect.Effect<ReadonlyArray<Alert>, PrometheusError>
  /** Active scrape targets (/api/v1/targets). */
  readonly targets: Effect.Effect<ReadonlyArray<Target>, PrometheusError>
  /** Loaded rule groups (/api/v1/rules). */
  readonly rules: Effect.Effect<ReadonlyArray<RuleGroup>, PrometheusError>
  /** The last lines Prometheus logged, for failure messages. */
  readonly log: Effect.Effect<string>
}

/** A loopback port nothing listens on (it was free a moment ago). */
export const freePort: Effect.Effect<number, PrometheusError> = Effect.async((resume) => {
  const server = Net.createServer()
  server.once("error", (cause) => resume(Effect.fail(new PrometheusError({ message: "no free port", cause }))))
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as Net.AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

const requestTimeout = Duration.seconds(5)

const getJson = (url: string) =>
  Effect.tryPromise({
    try: async (signal) => {
      const response = await fetch(url, { signal })
      return { status: response.status, body: await response.text() }
    },
    catch: (cause) => new PrometheusError({ message: `GET ${url} failed`, cause })
  }).pipe(
    Effect.timeoutFail({
      duration: requestTimeout,
      onTimeout: () => new PrometheusError({ message: `GET ${url}: no answer within 5 s` })
    })
  )

const api = <A, I>(base: string, path: string, data: Schema.Schema<A, I>) => {
  const decode = Schema.decodeUnknown(Schema.parseJson(Envelope(data)))
  const url = `${base}${path}`
  return Effect.flatMap(getJson(url), ({ body, status }) =>
    decode(body).pipe(
      Effect.mapError((cause) =>
        new PrometheusError({ message: `GET ${path} answered ${status} with an unexpected body: ${body}`, cause })
      ),
      Effect.flatMap((answer) =>
        answer.status === "success"
          ? Effect.succeed(answer.data)
          : Effect.fail(new PrometheusError({ message: `GET ${path}: ${answer.errorType}: ${answer.error}` }))
      )
    ))
}

const lastLines = 40

interface Running {
  readonly child: ChildProcess.ChildProcess
  readonly exited: Deferred.Deferred<string>
  readonly log: Array<string>
}

const spawn = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const exited = yield* Deferred.make<string>()
    const log: Array<string> = []
    const child = ChildProcess.spawn("prometheus", args, { stdio: ["ignore", "pipe", "pipe"] })
    const keep = (chunk: Buffer) => {
      log.push(...chunk.toString("utf8").split("\n").filter((line) => line !== ""))
      log.splice(0, Math.max(0, log.length - lastLines))
    }
    // Both pipes are drained: a full pipe would block Prometheus.
    child.stdout?.on("data", keep)
    child.stderr?.on("data", keep)
    child.on("error", (error: NodeJS.ErrnoException) =>
      Deferred.unsafeDone(
        exited,
        Effect.succeed(
          error.code === "ENOENT"
            ? "prometheus not found; install it with: apt-get install -y prometheus"
            : `prometheus could not start: ${error.message}`
        )
      ))
    child.on("exit", (code, signal) =>
      Deferred.unsafeDone(exited, Effect.succeed(`prometheus exited (${signal ?? `code ${code}`})`)))
    return { child, exited, log } satisfies Running
  })

const stop = ({ child, exited }: Running, bound: Duration.DurationInput) =>
  Effect.gen(function*() {
    if (yield* Deferred.isDone(exited)) return
    child.kill("SIGTERM")
    const stopped = yield* Deferred.await(exited).pipe(Effect.timeoutOption(bound))
    if (Option.isSome(stopped)) return
    child.kill("SIGKILL")
    yield* Deferred.await(exited)
  })

const makeTempDir = Effect.acquireRelease(
  Effect.tryPromise({
    try: () => Fs.mkdtemp(Path.join(Os.tmpdir(), "dashboard-prometheus-")),
    catch: (cause) => new PrometheusError({ message: "could not create a temporary directory", cause })
  }),
  (dir) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
)

/** Starts Prometheus, waits until it is ready, and stops it (then removes its storage) when the scope closes. */
export const make = (options: Options): Effect.Effect<Prometheus, PrometheusError, Scope.Scope> =>
  Effect.gen(function*() {
    const interval = `${Duration.toSeconds(options.interval ?? "1 second")}s`
    const dir = yield* makeTempDir
    const port = yield* freePort
    const address = `127.0.0.1:${port}`
    const url = `http://${address}`

    const jobs: ReadonlyArray<ScrapeTarget> = [
      ...(options.scrapeSelf === true ? [{ job: "prometheus", address }] : []),
      ...options.targets
    ]
    // JSON is YAML: no YAML library needed to write the configuration.
    const config = {
      global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
      rule_files: options.ruleFiles ?? ruleFiles,
      scrape_configs: jobs.map((target) => ({
        job_name: target.job,
        metrics_path: target.metricsPath ?? "/metrics",
        static_configs: [{ targets: [target.address] }]
      }))
    }
    const configFile = Path.join(dir, "prometheus.yml")
    yield* Effect.tryPromise({
      try: () => Fs.writeFile(configFile, JSON.stringify(config, null, 2)),
      catch: (cause) => new PrometheusError({ message: "could not write the configuration", cause })
    })

    const running = yield* Effect.acquireRelease(
      spawn([
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${Path.join(dir, "data")}`,
        `--web.listen-address=${address}`,
        "--log.level=warn"
      ]),
      (running) => stop(running, options.stopTimeout ?? "5 seconds")
    )
    const log = Effect.sync(() => running.log.join("\n"))

    const ready = getJson(`${url}/-/ready`).pipe(
      Effect.filterOrFail(
        ({ status }) => status === 200,
        ({ status }) => new PrometheusError({ message: `/-/ready answered ${status}` })
      ),
      Effect.retry(Schedule.spaced("100 millis")),
      Effect.timeoutFail({
        duration: options.readyTimeout ?? "20 seconds",
        onTimeout: () => new PrometheusError({ message: `prometheus on ${address} was not ready in time` })
      })
    )
    const died = Deferred.await(running.exited).pipe(
      Effect.flatMap((why) => Effect.fail(new PrometheusError({ message: `${why} before it was ready` })))
    )
    yield* Effect.raceFirst(ready, died).pipe(
      Effect.catchAll((error) =>
        Effect.flatMap(
          log,
          (lines) => Effect.fail(new PrometheusError({ ...error, message: `${error.message}\n${lines}` }))
        )
      )
    )

    return {
      url,
      port,
      directory: dir,
      query: (promql) =>
        Effect.map(
          api(url, `/api/v1/query?query=${encodeURIComponent(promql)}`, QueryData),
          (data) => data.result
        ),
      alerts: Effect.map(api(url, "/api/v1/alerts", AlertsData), (data) => data.alerts),
      targets: Effect.map(api(url, "/api/v1/targets?state=active", TargetsData), (data) => data.activeTargets),
      rules: Effect.map(api(url, "/api/v1/rules", RulesData), (data) => data.groups),
      log
    } satisfies Prometheus
  })

/**
 * Runs `effect` every `every` until its result satisfies `predicate`, failing once `within` has passed with the
 * last result in the message: how a test waits for a scrape or a rule evaluation.
 */
export const eventually = <A, E, R>(
  what: string,
  effect: Effect.Effect<A, E, R>,
  predicate: (a: A) => boolean,
  options: { readonly within?: Duration.DurationInput; readonly every?: Duration.DurationInput } = {}
): Effect.Effect<A, E | PrometheusError, R> =>
  Effect.gen(function*() {
    const deadline = Date.now() + Duration.toMillis(options.within ?? "15 seconds")
    while (true) {
      const result = yield* effect
      if (predicate(result)) return result
      if (Date.now() > deadline) {
        return yield* new PrometheusError({ message: `${what}: not seen in time; last: ${JSON.stringify(result)}` })
      }
      yield* Effect.sleep(options.every ?? "200 millis")
    }
  })
