// The tenant run: the app with 950 chaos tenants (every tenth hangs on its database) and 50 live schema tenants on
// the shared PostgreSQL (bench/tenantServer.ts, bundled like dist/main.js and run with the same Node flags), against
// the same app with no tenant. Round time, /readyz p99 against the single-tenant app, RSS, and the checks each chaos
// tenant starts per readiness interval.
import * as esbuild from "esbuild"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import Pg from "pg"
import {
  type Child,
  freePort,
  installCleanup,
  memory,
  serviceNodeFlags,
  sleep,
  start,
  stop,
  waitForPort
} from "./children.js"
import { load, type LoadResult } from "./load.js"
import { describeRatio, median, type PairedRatio, pairedRatio } from "./report.js"

const benchDir = path.dirname(fileURLToPath(import.meta.url))
const bundle = path.join(benchDir, ".build", "tenantServer.js")
export const liveTenants = 50
export const chaosTenants = 950
const database = "dashboard_tenants_bench"

interface ReportLine {
  readonly roundMs: number | null
  readonly counts: { readonly up: number; readonly down: number; readonly "not initialised": number }
  readonly mostChecksPerTenant: number
  readonly mostSchemaChecksPerTenant: number
  /** Schema tenant checks started since the process started. */
  readonly schemaChecksTotal: number
  readonly seconds: number
}

export interface TenantRun {
  readonly tenants: number
  readonly hanging: number
  readonly roundMs: ReadonlyArray<number>
  readonly checksPerTenantPerInterval: number
  /** The live schema tenants' checks, counted in the process like the chaos ones. */
  readonly schemaChecksPerTenantPerInterval: number
  /** Transactions the bench database saw over the tenant app's life ÷ the schema checks it counted (≈ 1, a bit over). */
  readonly transactionsPerSchemaCheck: number
  readonly counts: ReportLine["counts"] | undefined
  readonly readyz: {
    /** The median p99 over the rounds, and each round. */
    readonly single: { readonly p99Ms: number; readonly rounds: ReadonlyArray<LoadResult> }
    readonly tenants: { readonly p99Ms: number; readonly rounds: ReadonlyArray<LoadResult> }
    /** Tenants' p99 ÷ single-tenant's, per round: its median and range. */
    readonly p99Ratio: PairedRatio
  }
  readonly rssMb: number
  readonly singleRssMb: number
}

const build = () =>
  esbuild.build({
    entryPoints: [path.join(benchDir, "tenantServer.ts")],
    outfile: bundle,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    minify: true,
    keepNames: true,
    // The status page's script is not served here.
    define: { STATUS_PAGE_SCRIPT: "\"\"" },
    banner: {
      js:
        "import { createRequire as __createRequire } from \"node:module\"; const require = __createRequire(import.meta.url);"
    },
    logLevel: "warning"
  })

const roleOf = (i: number) => `dashboard_bench_t${i}`

const withAdmin = async <A>(url: string, f: (client: Pg.Client) => Promise<A>): Promise<A> => {
  const client = new Pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await f(client)
  } finally {
    await client.end()
  }
}

/** Drops the bench database and the live tenants' roles (left over from an interrupted run, or after this one). */
const dropDatabase = (adminUrl: string) =>
  withAdmin(adminUrl, async (admin) => {
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
    for (let i = 0; i < liveTenants; i++) await admin.query(`DROP ROLE IF EXISTS ${roleOf(i)}`)
  })

/**
 * A database of its own on the shared server with the live tenants' schemas, each owned by a role of its own (which
 * the check takes with SET LOCAL ROLE); nothing on the server is reconfigured, and both are dropped after the run.
 */
const prepareDatabase = async (adminUrl: string): Promise<string> => {
  await dropDatabase(adminUrl)
  await withAdmin(adminUrl, async (admin) => {
    await admin.query(`CREATE DATABASE ${database}`)
    for (let i = 0; i < liveTenants; i++) await admin.query(`CREATE ROLE ${roleOf(i)} NOLOGIN`)
  })
  const url = new URL(adminUrl)
  url.pathname = `/${database}`
  await withAdmin(url.toString(), async (client) => {
    for (let i = 0; i < liveTenants; i++) {
      await client.query(`CREATE SCHEMA bench_t${i} AUTHORIZATION ${roleOf(i)}`)
    }
  })
  return url.toString()
}

/**
 * Transactions ended in the bench database, counted at the server: each schema tenant check is one transaction (it
 * ends in ROLLBACK), and nothing but the tenant app's schema pool uses that database.
 */
const transactions = (adminUrl: string) =>
  withAdmin(adminUrl, async (admin) => {
    const result = await admin.query<{ n: string }>(
      "SELECT (xact_commit + xact_rollback)::text AS n FROM pg_stat_database WHERE datname = $1",
      [database]
    )
    return Number(result.rows[0]?.n ?? 0)
  })

const startServer = async (
  name: string,
  env: NodeJS.ProcessEnv,
  lines: Array<ReportLine>
): Promise<[Child, number]> => {
  const port = await freePort()
  const child = start(name, process.execPath, [...serviceNodeFlags, bundle], {
    ...env,
    PORT: String(port),
    HOST: "127.0.0.1",
    LOG_LEVEL: "error",
    SHUTDOWN_DRAIN_MS: "0"
  }, "pipe stdout")
  let pending = ""
  child.process.stdout?.on("data", (chunk: Buffer) => {
    pending += chunk.toString()
    const parts = pending.split("\n")
    pending = parts.pop() ?? ""
    for (const part of parts) {
      if (part.startsWith("{\"roundMs\"")) lines.push(JSON.parse(part) as ReportLine)
    }
  })
  await waitForPort(child, port, 20_000)
  return [child, port]
}

export const tenantRun = async (
  options: {
    readonly databaseUrl: string
    readonly redisUrl: string
    readonly intervalMs: number
    readonly timeoutMs: number
  },
  log: (line: string) => void
): Promise<TenantRun> => {
  await build()
  const tenantDatabaseUrl = await prepareDatabase(options.databaseUrl)
  const env = {
    ...process.env,
    DATABASE_URL: options.databaseUrl,
    REDIS_URL: options.redisUrl,
    READINESS_INTERVAL_MS: String(options.intervalMs),
    READINESS_TIMEOUT_MS: String(options.timeoutMs),
    TENANT_DATABASE_URL: tenantDatabaseUrl,
    TENANT_ROUND_EVERY_MS: "2000",
    TENANT_TIMED_ROUNDS: "5"
  }
  const lines: Array<ReportLine> = []
  const [single, singlePort] = await startServer(
    "single-tenant app",
    { ...env, CHAOS_TENANTS: "0", LIVE_TENANTS: "0" },
    []
  )
  const [tenants, tenantsPort] = await startServer(
    "tenant app",
    { ...env, CHAOS_TENANTS: String(chaosTenants), LIVE_TENANTS: String(liveTenants) },
    lines
  )
  try {
    // Five timed rounds, then a window where only the background rounds run and their checks are counted.
    while (lines.length < 8) await sleep(250)
    const rounds = lines.filter((line) => line.roundMs !== null).map((line) => line.roundMs!)
    const counted = lines.filter((line) => line.roundMs === null)
    const perInterval = (most: (line: ReportLine) => number) =>
      Math.max(...counted.map((line) => most(line) / (line.seconds * 1000 / options.intervalMs)))
    const checksPerTenantPerInterval = perInterval((line) => line.mostChecksPerTenant)
    const schemaChecksPerTenantPerInterval = perInterval((line) => line.mostSchemaChecksPerTenant)
    log(
      `tenant rounds: ${rounds.join(", ")} ms; checks per tenant per interval at most ${
        checksPerTenantPerInterval.toFixed(2)
      }; schema tenants ${schemaChecksPerTenantPerInterval.toFixed(2)}`
    )
    const url = (port: number) => `http://127.0.0.1:${port}/readyz`
    for (const port of [singlePort, tenantsPort]) await load({ url: url(port), connections: 50, durationS: 1 })
    // Alternating rounds, and the p99 ratio taken per round between neighbours, then its median: a tenant round holds
    // the loop for a few milliseconds a second, right where a p99 sits, and one noisy window decided best-of-two.
    const results = { single: [] as Array<LoadResult>, tenants: [] as Array<LoadResult> }
    for (let round = 0; round < 5; round++) {
      results.single.push(await load({ url: url(singlePort), connections: 50, durationS: 3 }))
      results.tenants.push(await load({ url: url(tenantsPort), connections: 50, durationS: 3 }))
    }
    // A run with no answer at all (p99 NaN: the event loop held past the run) is the worst, not incomparable.
    const p99 = (run: LoadResult) => (Number.isNaN(run.p99Ms) ? Number.POSITIVE_INFINITY : run.p99Ms)
    const p99Ratio = pairedRatio(results.tenants.map(p99), results.single.map(p99))
    const readyz = {
      single: { p99Ms: median(results.single.map(p99)), rounds: results.single },
      tenants: { p99Ms: median(results.tenants.map(p99)), rounds: results.tenants },
      p99Ratio
    }
    log(
      `/readyz p99 per round: single-tenant ${results.single.map((run) => p99(run).toFixed(2)).join(", ")} ms; ${
        chaosTenants + liveTenants
      } tenants ${results.tenants.map((run) => p99(run).toFixed(2)).join(", ")} ms; ratio ${describeRatio(p99Ratio)}`
    )
    const rss = memory(tenants).rssMb
    const singleRss = memory(single).rssMb
    log(`RSS: ${rss.toFixed(1)} MB with tenants, ${singleRss.toFixed(1)} MB without`)
    // A backend publishes its statistics up to ~10 s late while it lives, but always when it exits: the transactions
    // are counted once the tenant app (and so its schema pool) is gone, against the checks it counted in its last line.
    await stop(tenants)
    const schemaChecksTotal = lines.at(-1)?.schemaChecksTotal ?? 0
    const transactionsPerSchemaCheck = schemaChecksTotal === 0
      ? Number.NaN
      : (await transactions(options.databaseUrl)) / schemaChecksTotal
    log(`transactions in the bench database per schema check counted: ${transactionsPerSchemaCheck.toFixed(2)}`)
    return {
      tenants: chaosTenants + liveTenants,
      hanging: chaosTenants / 10,
      roundMs: rounds,
      checksPerTenantPerInterval,
      schemaChecksPerTenantPerInterval,
      transactionsPerSchemaCheck,
      counts: lines.at(-1)?.counts,
      readyz,
      rssMb: rss,
      singleRssMb: singleRss
    }
  } finally {
    await stop(tenants)
    await stop(single)
    await dropDatabase(options.databaseUrl)
  }
}

// `tsx bench/tenants.ts`: the tenant run alone (while working on it); `pnpm bench` runs it with everything else.
if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  installCleanup()
  const began = performance.now()
  const figures = await tenantRun({
    databaseUrl: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
    redisUrl: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
    intervalMs: Number(process.env.READINESS_INTERVAL_MS ?? 1000),
    timeoutMs: Number(process.env.READINESS_TIMEOUT_MS ?? 500)
  }, (line) => console.log(`[${((performance.now() - began) / 1000).toFixed(1).padStart(5)}s] ${line}`))
  console.log(JSON.stringify(figures, null, 2))
}
