// Benchmarks the built service against a raw node:http server and writes bench/results/latest.{json,md}.
// Needs the shared PostgreSQL and Redis; see bench/README.md for what each figure means and how it is counted.
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { startBlackhole } from "./blackhole.js"
import {
  type Child,
  ChildGone,
  cpuSeconds,
  describe,
  type Exit,
  freePort,
  installCleanup,
  machineBusySeconds,
  memory,
  openFileLimit,
  serviceNodeFlags,
  sleep,
  start,
  stop,
  waitForPort
} from "./children.js"
import { counts, openPostgres, openRedis, type Postgres, rates, type RedisCounter, withDatabase } from "./counters.js"
import { load, type LoadOptions, type LoadResult } from "./load.js"
import { atLeast, atMost, describeRatio, fixed, median, pairedRatio, type Row, table, targetsTable } from "./report.js"
import { measureStartup } from "./startup.js"
import { liveTenants, tenantRun } from "./tenants.js"

const benchDir = path.dirname(fileURLToPath(import.meta.url))
const resultsDir = path.join(benchDir, "results")
const serviceEntry = path.resolve(process.env.BENCH_SERVICE ?? path.join(benchDir, "..", "dist", "main.js"))

const config = {
  connections: 50,
  // raw node:http itself needs ~5 s of load before its rate settles (its JIT, and autocannon's).
  warmupS: 5,
  // Short rounds, many of them: the machine's rate drifts and dips for seconds at a time, and a ratio is taken per
  // round between neighbours, then the median over rounds.
  rounds: 7,
  roundS: 3,
  idleWindowS: 10,
  scrapeS: 5,
  stormConnections: 1000,
  startupRuns: 9,
  stormS: 10,
  blackholeRounds: 3,
  blackholeS: 5,
  readinessTimeoutMs: Number(process.env.READINESS_TIMEOUT_MS ?? 500),
  readinessIntervalMs: Number(process.env.READINESS_INTERVAL_MS ?? 1000),
  databaseUrl: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
  redisUrl: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
  benchDatabase: "dashboard_bench"
}

class ServiceDidNotStart extends Error {}
class BaselineDiffers extends Error {}

// One GET /healthz over a fresh connection, the answer's bytes as they came, without its Date line (the one header
// that differs by the second).
const healthzBytes = (port: number): Promise<string> =>
  new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.end("GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"))
    let answer = ""
    socket.setEncoding("latin1")
    socket.setTimeout(5_000, () => socket.destroy(new Error(`no answer on port ${port}`)))
    socket.on("data", (chunk: string) => answer += chunk)
    socket.on("error", reject)
    socket.on("close", () => resolve(answer.replace(/^date: .*\r\n/im, "")))
  })

const began = performance.now()
const log = (message: string): void => {
  console.log(`[${((performance.now() - began) / 1000).toFixed(1).padStart(5)}s] ${message}`)
}

interface Measured extends LoadResult {
  readonly serverCpu: number
  readonly benchCpu: number
  readonly otherCpu: number
}

// CPU use of both sides, in cores: when the bench side nears 1 the figures measure autocannon, not the server.
const measured = async (child: Child, options: LoadOptions): Promise<Measured> => {
  const server = cpuSeconds(child)
  const bench = process.cpuUsage()
  const machine = machineBusySeconds()
  const result = await load(options)
  const benchUsage = process.cpuUsage(bench)
  const serverCpu = (cpuSeconds(child) - server) / result.durationS
  const benchCpu = (benchUsage.user + benchUsage.system) / 1e6 / result.durationS
  const machineCpu = (machineBusySeconds() - machine) / result.durationS
  return { ...result, serverCpu, benchCpu, otherCpu: Math.max(0, machineCpu - serverCpu - benchCpu) }
}

const describeLoad = (result: Measured): string => {
  const failures = result.errors + result.non2xx
  return `${result.rps.toFixed(0)} req/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, ` +
    `CPU server ${result.serverCpu.toFixed(2)} bench ${result.benchCpu.toFixed(2)} other ${
      result.otherCpu.toFixed(2)
    }` +
    (failures > 0 ? `, ${result.errors} errors (${result.timeouts} timeouts), ${result.non2xx} non-2xx` : "")
}

// A short summary only: error messages inside the body could name hosts, and the results may be committed.
const readyzSample = async (port: number): Promise<unknown> => {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) })
    const body = await response.json() as { status?: unknown; checks?: Record<string, { status?: unknown }> }
    const checks = Object.fromEntries(Object.entries(body.checks ?? {}).map(([name, check]) => [name, check.status]))
    return { httpStatus: response.status, status: body.status, checks }
  } catch (error) {
    return { error: String(error) }
  }
}

// The request counter's figure for a route, read from a scrape: shows the counters were on during the rounds.
const countedRequests = async (port: number, route: string): Promise<number> => {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  const line = text.split("\n").find((l) => l.startsWith(`dashboard_http_requests_total{route="${route}",code="2xx"}`))
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1))
}

const children: Array<Child> = []

interface Dependencies {
  readonly postgres: Postgres
  readonly redis: RedisCounter
  readonly databaseUrl: string
  readonly redisUrl: string
  readonly redisKind: string
}

// A private redis-server makes the PING count exact: commandstats are server-wide and other work uses the shared one.
const startRedis = async (): Promise<{ readonly url: string; readonly kind: string }> => {
  if (spawnSync("redis-server", ["--version"]).status !== 0) return { url: config.redisUrl, kind: "shared" }
  const port = await freePort()
  const redis = start(
    "redis-server",
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    process.env,
    path.join(resultsDir, "redis.log.tmp")
  )
  children.push(redis)
  await waitForPort(redis, port, 5000)
  return { url: `redis://127.0.0.1:${port}`, kind: "private redis-server on loopback" }
}

const serviceEnv = (port: number, databaseUrl: string, redisUrl: string): NodeJS.ProcessEnv => ({
  ...process.env,
  PORT: String(port),
  HOST: "127.0.0.1",
  DATABASE_URL: databaseUrl,
  REDIS_URL: redisUrl,
  READINESS_TIMEOUT_MS: String(config.readinessTimeoutMs),
  READINESS_INTERVAL_MS: String(config.readinessIntervalMs),
  // The bench stops instances with SIGTERM; a drain would only make it wait.
  SHUTDOWN_DRAIN_MS: "0"
})

const startService = async (name: string, env: NodeJS.ProcessEnv, port: number, logName: string) => {
  const logFile = path.join(resultsDir, logName)
  const service = start(name, process.execPath, [...serviceNodeFlags, serviceEntry], env, logFile)
  children.push(service)
  const startupMs = await waitForPort(service, port, 20_000).catch((error: unknown) => {
    const reason = error instanceof Error ? error.message : String(error)
    throw new ServiceDidNotStart(`${reason}; its output is in ${path.relative(process.cwd(), logFile)}`)
  })
  return { service, startupMs }
}

interface Target {
  readonly url: string
  readonly child: Child
}

const summary = (results: ReadonlyArray<Measured>) => ({
  rps: median(results.map((r) => r.rps)),
  p50Ms: median(results.map((r) => r.p50Ms)),
  p99Ms: median(results.map((r) => r.p99Ms)),
  failures: results.reduce((sum, r) => sum + r.errors + r.non2xx, 0),
  rounds: results
})

// Targets alternate within each round so that drift on a shared machine hits all of them alike.
const rounds = async <Name extends string>(
  label: string,
  targets: Record<Name, Target>,
  count: number,
  durationS: number
) => {
  const names = Object.keys(targets) as Array<Name>
  for (const name of names) {
    await load({ url: targets[name].url, connections: config.connections, durationS: config.warmupS })
  }
  const results = Object.fromEntries(names.map((name) => [name, [] as Array<Measured>])) as Record<
    Name,
    Array<Measured>
  >
  for (let round = 1; round <= count; round++) {
    for (const name of names) {
      const result = await measured(targets[name].child, {
        url: targets[name].url,
        connections: config.connections,
        durationS
      })
      results[name].push(result)
      log(`${label} ${round} ${name.padEnd(17)} ${describeLoad(result)}`)
      await sleep(200)
    }
  }
  return Object.fromEntries(names.map((name) => [name, summary(results[name])])) as Record<
    Name,
    ReturnType<typeof summary>
  >
}

// A second instance whose Redis accepts connections and never answers, measured in alternation with the normal one.
const blackholed = async (normal: Target) => {
  const hole = await startBlackhole()
  const port = await freePort()
  // Not the bench database: the steady instance's transactions there are being counted.
  const env = serviceEnv(port, config.databaseUrl, `redis://127.0.0.1:${hole.port}`)
  try {
    const started = await startService("service (Redis blackholed)", env, port, "service-blackholed.log.tmp").catch(
      (error: unknown) => error instanceof Error ? error.message : String(error)
    )
    if (typeof started === "string") {
      log(`blackholed instance did not start: ${started}`)
      return { started: false as const, error: started, blackholeConnections: hole.accepted() }
    }
    const { service, startupMs } = started
    log(`blackholed instance listening after ${startupMs.toFixed(0)} ms`)
    // Let the first background refresh run into its timeout so that the snapshot already says Redis is down.
    await sleep(config.readinessIntervalMs + config.readinessTimeoutMs + 250)
    const readyz = await readyzSample(port)
    log(`blackholed /readyz ${JSON.stringify(readyz)}`)
    const url = (route: string) => `http://127.0.0.1:${port}${route}`
    const results = await rounds(
      "blackhole",
      {
        "normal healthz": normal,
        "blackholed healthz": { url: url("/healthz"), child: service },
        "blackholed readyz": { url: url("/readyz"), child: service }
      },
      config.blackholeRounds,
      config.blackholeS
    )
    const rss = memory(service)
    const exit = await stop(service)
    return {
      started: true as const,
      startupMs,
      readyz,
      normalHealthz: results["normal healthz"],
      healthz: results["blackholed healthz"],
      readyzLoad: results["blackholed readyz"],
      memory: rss,
      exit,
      blackholeConnections: hole.accepted()
    }
  } finally {
    await hole.close()
  }
}

const startDependencies = async (): Promise<Dependencies> => {
  const postgres = await openPostgres(config.databaseUrl, config.benchDatabase)
  const redisTarget = await startRedis()
  const redis = await openRedis(redisTarget.url)
  log(
    `PostgreSQL database ${config.benchDatabase} (pg_stat_statements: ${postgres.statStatements}), ` +
      `Redis: ${redisTarget.kind}`
  )
  return {
    postgres,
    redis,
    databaseUrl: withDatabase(config.databaseUrl, config.benchDatabase),
    redisUrl: redisTarget.url,
    redisKind: redisTarget.kind
  }
}

const environment = () => {
  const openFiles = openFileLimit("self")
  return {
    node: process.version,
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.cpus().length,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    loadAverageAtStart: os.loadavg(),
    openFileLimit: openFiles
  }
}

// Phase 1, the long-lived instance: idle figures, throughput against the raw server, the blackholed comparison.
const steady = async (dependencies: Dependencies) => {
  const { postgres, redis } = dependencies
  const rawPort = await freePort()
  const raw = start("raw server", process.execPath, [path.join(benchDir, "rawServer.mjs")], {
    ...process.env,
    PORT: String(rawPort),
    HOST: "127.0.0.1"
  })
  children.push(raw)
  await waitForPort(raw, rawPort, 10_000)

  await postgres.drained()
  const lifetimeFrom = await counts(postgres, redis)
  const port = await freePort()
  const env = serviceEnv(port, dependencies.databaseUrl, dependencies.redisUrl)
  const main = await startService("service", env, port, "service.log.tmp")
  const openFiles = openFileLimit(main.service)
  log(`service ${serviceEntry} listening after ${main.startupMs.toFixed(0)} ms (pid ${main.service.process.pid})`)
  const url = (route: string) => `http://127.0.0.1:${port}${route}`

  // The ratio means something only if the baseline writes the same bytes: same status, headers and body.
  const [rawAnswer, serviceAnswer] = await Promise.all([healthzBytes(rawPort), healthzBytes(port)])
  if (rawAnswer !== serviceAnswer) {
    throw new BaselineDiffers(
      `rawServer.mjs and the service answer /healthz differently:\n${rawAnswer}\n---\n${serviceAnswer}`
    )
  }
  await load({ url: url("/healthz"), connections: 10, amount: 500 })
  await load({ url: url("/readyz"), connections: 10, amount: 500 })
  await sleep(1000)
  const idleFrom = await counts(postgres, redis)
  await sleep(config.idleWindowS * 1000)
  const idle = rates(idleFrom, await counts(postgres, redis))
  const idleMemory = memory(main.service)
  const readyz = await readyzSample(port)
  log(
    `idle: ${idle.pingsPerSecond.toFixed(2)} PING/s, RSS ${idleMemory.rssMb.toFixed(1)} MB; /readyz ${
      JSON.stringify(readyz)
    }`
  )

  // Prometheus scrapes over one connection, one scrape at a time.
  const scrape = await measured(main.service, { url: url("/metrics"), connections: 1, durationS: config.scrapeS })
  log(`/metrics scrape, 1 connection: ${describeLoad(scrape)}`)

  const throughput = await rounds(
    "round",
    {
      raw: { url: `http://127.0.0.1:${rawPort}/healthz`, child: raw },
      healthz: { url: url("/healthz"), child: main.service },
      readyz: { url: url("/readyz"), child: main.service }
    },
    config.rounds,
    config.roundS
  )
  await stop(raw)
  const healthzCounted = await countedRequests(port, "/healthz")
  log(`/healthz requests counted by dashboard_http_requests_total: ${healthzCounted}`)

  const blackhole = await blackholed({ url: url("/healthz"), child: main.service })
  const memoryAtEnd = memory(main.service)
  const sigterm: Exit = await stop(main.service)
  log(`service stopped on SIGTERM: ${JSON.stringify(sigterm)}`)
  await postgres.drained()
  const lifetime = rates(lifetimeFrom, await counts(postgres, redis))
  log(
    `whole run of the instance: ${lifetime.transactionsPerSecond.toFixed(2)} PostgreSQL transactions/s, ${
      lifetime.pingsPerSecond.toFixed(2)
    } PING/s over ${lifetime.seconds.toFixed(1)} s`
  )
  return {
    startupMs: main.startupMs,
    openFileLimit: openFiles,
    readyz,
    idle: { pings: idle, memory: idleMemory },
    scrape,
    healthzCounted,
    throughput,
    blackhole,
    memoryAtEnd,
    checksOverLifetime: lifetime,
    sigterm
  }
}

// Phase 2, a fresh instance that lives only for the storm, so that its PostgreSQL transactions can be read exactly
// once it has exited: checks per second are over its whole life, PINGs also over the storm alone.
const storm = async (dependencies: Dependencies) => {
  const { postgres, redis } = dependencies
  await postgres.drained()
  const lifetimeFrom = await counts(postgres, redis)
  const port = await freePort()
  const env = serviceEnv(port, dependencies.databaseUrl, dependencies.redisUrl)
  const { service, startupMs } = await startService("service (storm)", env, port, "service-storm.log.tmp")
  await sleep(1000)
  log(`storm: ${config.stormConnections} connections on /readyz for ${config.stormS} s`)
  const stormFrom = await counts(postgres, redis)
  const stormLoad = await measured(service, {
    url: `http://127.0.0.1:${port}/readyz`,
    connections: config.stormConnections,
    durationS: config.stormS
  })
  const during = rates(stormFrom, await counts(postgres, redis))
  const stormMemory = memory(service)
  const sigterm = await stop(service)
  await postgres.drained()
  const lifetime = rates(lifetimeFrom, await counts(postgres, redis))
  log(`storm: ${describeLoad(stormLoad)}; RSS ${stormMemory.rssMb.toFixed(1)} MB`)
  log(
    `storm instance: ${lifetime.transactions} PostgreSQL transactions and ${lifetime.pings} PING in ${
      lifetime.seconds.toFixed(1)
    } s; ${during.pings} PING in the ${during.seconds.toFixed(1)} s storm`
  )
  return {
    startupMs,
    load: stormLoad,
    checksOverLifetime: lifetime,
    checksDuringStorm: during,
    limitPerSecond: 1000 / config.readinessIntervalMs + 1,
    memory: stormMemory,
    sigterm
  }
}

const bench = async (dependencies: Dependencies) => {
  log(`startup: spawn to first /healthz 200, service and raw node:http alternating, ${config.startupRuns} runs each`)
  const startup = await measureStartup(
    serviceEntry,
    path.join(benchDir, "rawServer.mjs"),
    serviceEnv(0, dependencies.databaseUrl, dependencies.redisUrl),
    config.startupRuns
  )
  const { blackhole, idle, scrape, throughput, ...service } = await steady(dependencies)
  return {
    startup: { ...startup, serviceMedianMs: median(startup.serviceMs), rawMedianMs: median(startup.rawMs) },
    service,
    idle,
    scrape,
    throughput,
    blackhole,
    storm: await storm(dependencies),
    tenants: await tenantRun({
      databaseUrl: config.databaseUrl,
      redisUrl: dependencies.redisUrl,
      intervalMs: config.readinessIntervalMs,
      timeoutMs: config.readinessTimeoutMs
    }, log)
  }
}

const describeExit = (exit: Exit): string =>
  exit.error ?? (exit.signal === null ? `code ${exit.code}` : `signal ${exit.signal}`)

const targetRows = (figures: Awaited<ReturnType<typeof bench>>): Array<Row> => {
  const { blackhole, storm, tenants, throughput } = figures
  const tenantP99Ratio = tenants.readyz.p99Ratio
  const rates = (rounds: ReadonlyArray<Measured>) => rounds.map((round) => round.rps)
  const healthzRatio = pairedRatio(rates(throughput.healthz.rounds), rates(throughput.raw.rounds))
  const readyzRatio = pairedRatio(rates(throughput.readyz.rounds), rates(throughput.healthz.rounds))
  const limit = storm.limitPerSecond
  const life = storm.checksOverLifetime
  const during = storm.checksDuringStorm
  const notStarted = "blackholed instance did not start"
  const p99Ratio = blackhole.started ? blackhole.healthz.p99Ms / blackhole.normalHealthz.p99Ms : undefined
  const startupRatio = figures.startup.serviceMedianMs / figures.startup.rawMedianMs
  return [
    {
      measure: "spawn to first /healthz 200 ÷ raw node:http (median)",
      target: "≤ 2",
      value: `${fixed(startupRatio)} (${fixed(figures.startup.serviceMedianMs, 0)} ms ÷ ` +
        `${fixed(figures.startup.rawMedianMs, 0)} ms)`,
      met: atMost(startupRatio, 2)
    },
    {
      measure: "healthz ÷ raw req/s, request counters on",
      target: "≥ 0.9",
      value: `${describeRatio(healthzRatio)}; ${figures.service.healthzCounted} counted`,
      met: atLeast(healthzRatio.median, 0.9)
    },
    {
      measure: "readyz ÷ healthz req/s",
      target: "≥ 0.9",
      value: describeRatio(readyzRatio),
      met: atLeast(readyzRatio.median, 0.9)
    },
    {
      measure: `PostgreSQL checks/s in ${config.stormConnections}-connection storm`,
      target: `≤ ${fixed(limit, 0)}`,
      value: `${fixed(life.transactionsPerSecond)} (${life.transactions} in the instance's ${
        fixed(life.seconds, 1)
      } s)`,
      met: atMost(life.transactionsPerSecond, limit)
    },
    {
      measure: `Redis PING/s in ${config.stormConnections}-connection storm`,
      target: `≤ ${fixed(limit, 0)}`,
      value: `${fixed(during.pingsPerSecond)} (${during.pings} in the ${fixed(during.seconds, 1)} s storm)`,
      met: atMost(during.pingsPerSecond, limit)
    },
    {
      measure: "readyz p99, Redis blackholed",
      target: "≤ 25 ms",
      value: blackhole.started ? `${fixed(blackhole.readyzLoad.p99Ms)} ms` : notStarted,
      met: blackhole.started ? atMost(blackhole.readyzLoad.p99Ms, 25) : false
    },
    {
      measure: "healthz p99 blackholed ÷ normal",
      target: "≤ 1.2",
      value: blackhole.started
        ? `${fixed(p99Ratio)} (${fixed(blackhole.healthz.p99Ms)} ÷ ${fixed(blackhole.normalHealthz.p99Ms)} ms)`
        : notStarted,
      met: blackhole.started ? atMost(p99Ratio, 1.2) : false
    },
    {
      measure: "/metrics scrape p99, 1 connection",
      target: "≤ 5 ms",
      value: `${fixed(figures.scrape.p99Ms)} ms (p50 ${fixed(figures.scrape.p50Ms)} ms, ${
        fixed(figures.scrape.rps, 0)
      } scrapes/s)`,
      met: atMost(figures.scrape.p99Ms, 5)
    },
    {
      measure: "idle RSS, metrics on",
      target: "≤ 90 MB",
      value: `${fixed(figures.idle.memory.rssMb, 1)} MB`,
      met: atMost(figures.idle.memory.rssMb, 90)
    },
    {
      measure: "RSS after storm",
      target: "≤ 120 MB",
      value: `${fixed(storm.memory.rssMb, 1)} MB (peak ${fixed(storm.memory.peakRssMb, 1)} MB)`,
      met: atMost(storm.memory.rssMb, 120)
    },
    {
      measure: `tenant round, ${tenants.tenants} tenants (${tenants.hanging} hanging, ${liveTenants} live schemas)`,
      target: `≤ 2 × budget (${2 * config.readinessTimeoutMs} ms)`,
      value: `${fixed(Math.max(...tenants.roundMs), 0)} ms at most (${tenants.roundMs.join(", ")} ms)`,
      met: atMost(Math.max(...tenants.roundMs), 2 * config.readinessTimeoutMs)
    },
    {
      measure: `/readyz p99 with ${tenants.tenants} tenants ÷ single-tenant`,
      target: "≤ 1.25 (unchanged, within noise)",
      value: `${describeRatio(tenantP99Ratio)}; p99 ${fixed(tenants.readyz.tenants.p99Ms)} ÷ ${
        fixed(tenants.readyz.single.p99Ms)
      } ms`,
      met: atMost(tenantP99Ratio.median, 1.25)
    },
    {
      measure: `RSS with ${tenants.tenants} tenants`,
      target: "≤ 200 MB",
      value: `${fixed(tenants.rssMb, 1)} MB (single-tenant app ${fixed(tenants.singleRssMb, 1)} MB)`,
      met: atMost(tenants.rssMb, 200)
    },
    {
      measure: "checks per tenant per readiness interval",
      target: "≤ 1",
      value: `chaos ${fixed(tenants.checksPerTenantPerInterval)} at most (a hung check is not started again); ` +
        `schema ${fixed(tenants.schemaChecksPerTenantPerInterval)} on average, counted at the server`,
      met: atMost(Math.max(tenants.checksPerTenantPerInterval, tenants.schemaChecksPerTenantPerInterval), 1)
    },
    {
      measure: "exit on SIGTERM",
      target: "code 0",
      value: [figures.service.sigterm, storm.sigterm].map(describeExit).join(", "),
      met: figures.service.sigterm.code === 0 && storm.sigterm.code === 0
    }
  ]
}

// Other processes on a 2-core machine move p99s and ratios more than any change in the service does.
const noiseNotes = (figures: Awaited<ReturnType<typeof bench>>): Array<string> => {
  const { blackhole, storm, throughput } = figures
  const phases: Array<[string, ReadonlyArray<Measured>]> = [
    ["throughput rounds", [...throughput.raw.rounds, ...throughput.healthz.rounds, ...throughput.readyz.rounds]],
    [
      "blackholed rounds",
      blackhole.started
        ? [...blackhole.normalHealthz.rounds, ...blackhole.healthz.rounds, ...blackhole.readyzLoad.rounds]
        : []
    ],
    ["storm", [storm.load]]
  ]
  return phases.flatMap(([phase, runs]) => {
    const other = runs.length === 0 ? 0 : median(runs.map((run) => run.otherCpu))
    return other > 0.25
      ? [`Other processes used ${other.toFixed(2)} cores (median) during the ${phase}: those figures are noisy.`]
      : []
  })
}

// CPU columns are in cores; "other" is load from outside the bench, which makes the ratios noisy when it is high.
const throughputTable = (figures: Awaited<ReturnType<typeof bench>>): string =>
  table(
    ["target", "req/s", "p50 ms", "p99 ms", "req/s per round", "failed", "CPU server", "CPU bench", "CPU other"],
    (["raw", "healthz", "readyz"] as const).map((name) => {
      const target = figures.throughput[name]
      const cpu = (pick: (round: Measured) => number) => fixed(median(target.rounds.map(pick)))
      return [
        name,
        fixed(target.rps, 0),
        fixed(target.p50Ms),
        fixed(target.p99Ms),
        target.rounds.map((r) => r.rps.toFixed(0)).join(", "),
        String(target.failures),
        cpu((r) => r.serverCpu),
        cpu((r) => r.benchCpu),
        cpu((r) => r.otherCpu)
      ]
    })
  )

const main = async (): Promise<number> => {
  installCleanup()
  fs.mkdirSync(resultsDir, { recursive: true })
  if (!fs.existsSync(serviceEntry)) {
    console.error(`${serviceEntry} does not exist: build first (pnpm bench does)`)
    return 1
  }
  const machine = environment()
  log(
    `node ${machine.node}, ${machine.cores} x ${machine.cpu}, ulimit -n ${machine.openFileLimit?.soft}, ` +
      `load average ${machine.loadAverageAtStart.map((n) => n.toFixed(2)).join(" ")}`
  )
  // Bench and service each hold one socket per storm connection, on top of their other descriptors.
  const fdNeeded = 2 * config.stormConnections + 100
  const soft = machine.openFileLimit?.soft
  if (typeof soft === "number" && soft < fdNeeded) {
    log(`warning: ulimit -n ${soft} < ${fdNeeded}: the storm will fail with EMFILE; raise it with ulimit -n`)
  }

  const dependencies = await startDependencies()
  try {
    const figures = await bench(dependencies)
    const rows = targetRows(figures)
    const timestamp = new Date().toISOString()
    const targets = targetsTable(rows)
    const throughput = throughputTable(figures)
    const notes = noiseNotes(figures)
    const markdown = [
      `# Bench ${timestamp}`,
      "",
      `node ${machine.node}, ${machine.cores} x ${machine.cpu}; -c ${config.connections}, ${config.rounds} rounds of ` +
      `${config.roundS} s; readiness interval ${config.readinessIntervalMs} ms; details in latest.json.`,
      "",
      targets,
      "",
      throughput,
      "",
      ...notes.flatMap((note) => [note, ""])
    ].join("\n")
    const json = {
      timestamp,
      environment: { ...machine, loadAverageAtEnd: os.loadavg() },
      config: {
        ...config,
        // URLs may carry passwords and the results may be committed.
        databaseUrl: undefined,
        redisUrl: undefined,
        redis: dependencies.redisKind,
        serviceEntry: path.relative(path.join(benchDir, ".."), serviceEntry),
        pgStatStatements: dependencies.postgres.statStatements,
        checksCountedAs: {
          postgres: `pg_stat_database xact_commit + xact_rollback of database ${config.benchDatabase}, read after ` +
            "the instance exited, over its whole life",
          redis: "INFO commandstats cmdstat_ping calls, during the storm only"
        }
      },
      ...figures,
      targets: rows,
      notes
    }
    fs.writeFileSync(path.join(resultsDir, "latest.json"), `${JSON.stringify(json, null, 2)}\n`)
    fs.writeFileSync(path.join(resultsDir, "latest.md"), markdown)
    console.log(`\n${targets}\n\n${throughput}\n${notes.map((note) => `\n${note}\n`).join("")}`)
    log(`wrote ${path.relative(process.cwd(), resultsDir)}/latest.json and latest.md`)
    return 0
  } finally {
    await Promise.all([dependencies.postgres.close(), dependencies.redis.close()])
    await Promise.all(children.map((child) => stop(child)))
  }
}

const failure = async (error: unknown): Promise<[string, number]> => {
  if (error instanceof ServiceDidNotStart) return [error.message, 2]
  if (error instanceof ChildGone) {
    const exit = await Promise.race([error.child.exited, sleep(1000).then(() => undefined)])
    const output = error.child.logFile === undefined
      ? ""
      : `; its output is in ${path.relative(process.cwd(), error.child.logFile)}`
    return [`${error.message} (${exit === undefined ? "no exit status yet" : describe(exit)})${output}`, 3]
  }
  return [error instanceof Error ? error.stack ?? error.message : String(error), 1]
}

main().then(
  (code) => process.exit(code),
  async (error: unknown) => {
    const [message, code] = await failure(error)
    console.error(message)
    process.exit(code)
  }
)
