// The tenant run: the app with 950 chaos tenants (every tenth hangs on its database) and 50 live schema tenants on
// the shared PostgreSQL (bench/tenantServer.ts, bundled like dist/main.js and run with the same Node flags), against
// the same app with no tenant. Round time, /readyz p99 against the single-tenant app, RSS, and the checks each chaos
// tenant starts per readiness interval.
import * as esbuild from "esbuild"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import Pg from "pg"
import { type Child, freePort, memory, serviceNodeFlags, sleep, start, stop, waitForPort } from "./children.js"
import { load, type LoadResult } from "./load.js"

const benchDir = path.dirname(fileURLToPath(import.meta.url))
const bundle = path.join(benchDir, ".build", "tenantServer.js")
export const liveTenants = 50
export const chaosTenants = 950
const database = "dashboard_tenants_bench"

interface ReportLine {
  readonly roundMs: number | null
  readonly counts: { readonly up: number; readonly down: number; readonly "not initialised": number }
  readonly mostChecksPerTenant: number
  readonly seconds: number
}

export interface TenantRun {
  readonly tenants: number
  readonly hanging: number
  readonly roundMs: ReadonlyArray<number>
  readonly checksPerTenantPerInterval: number
  readonly counts: ReportLine["counts"] | undefined
  readonly readyz: { readonly single: LoadResult; readonly tenants: LoadResult }
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

/** A database of its own on the shared server with the live tenants' schemas; nothing on the server is reconfigured. */
const prepareDatabase = async (adminUrl: string): Promise<string> => {
  const admin = new Pg.Client({ connectionString: adminUrl })
  await admin.connect()
  try {
    const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [database])
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${database}`)
  } finally {
    await admin.end()
  }
  const url = new URL(adminUrl)
  url.pathname = `/${database}`
  const client = new Pg.Client({ connectionString: url.toString() })
  await client.connect()
  try {
    for (let i = 0; i < liveTenants; i++) await client.query(`CREATE SCHEMA IF NOT EXISTS bench_t${i}`)
  } finally {
    await client.end()
  }
  return url.toString()
}

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
    const checksPerTenantPerInterval = Math.max(
      ...counted.map((line) => line.mostChecksPerTenant / (line.seconds * 1000 / options.intervalMs))
    )
    log(
      `tenant rounds: ${rounds.join(", ")} ms; checks per tenant per interval at most ${
        checksPerTenantPerInterval.toFixed(2)
      }`
    )
    const url = (port: number) => `http://127.0.0.1:${port}/readyz`
    for (const port of [singlePort, tenantsPort]) await load({ url: url(port), connections: 50, durationS: 1 })
    const results = { single: [] as Array<LoadResult>, tenants: [] as Array<LoadResult> }
    for (let round = 0; round < 2; round++) {
      results.single.push(await load({ url: url(singlePort), connections: 50, durationS: 3 }))
      results.tenants.push(await load({ url: url(tenantsPort), connections: 50, durationS: 3 }))
    }
    const best = (runs: ReadonlyArray<LoadResult>) => runs.reduce((a, b) => (a.p99Ms <= b.p99Ms ? a : b))
    const readyz = { single: best(results.single), tenants: best(results.tenants) }
    log(
      `/readyz p99: single-tenant ${readyz.single.p99Ms.toFixed(2)} ms, ${chaosTenants + liveTenants} tenants ${
        readyz.tenants.p99Ms.toFixed(2)
      } ms`
    )
    const rss = memory(tenants).rssMb
    const singleRss = memory(single).rssMb
    log(`RSS: ${rss.toFixed(1)} MB with tenants, ${singleRss.toFixed(1)} MB without`)
    return {
      tenants: chaosTenants + liveTenants,
      hanging: chaosTenants / 10,
      roundMs: rounds,
      checksPerTenantPerInterval,
      counts: lines.at(-1)?.counts,
      readyz,
      rssMb: rss,
      singleRssMb: singleRss
    }
  } finally {
    await stop(tenants)
    await stop(single)
  }
}
