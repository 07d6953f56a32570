// Counts the readiness checks at the servers that receive them, not in the service that sends them.
// pg_stat_statements needs shared_preload_libraries, which the shared PostgreSQL is not ours to change, so
// PostgreSQL is counted as transactions in a database that only the service under test uses. A backend reports
// those lazily (up to ~10 s late) but always when it exits, so they are read once the service's connections closed.
import { Redis } from "ioredis"
import pg from "pg"

export const withDatabase = (url: string, database: string): string => {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}

export interface Postgres {
  readonly transactions: () => Promise<number>
  readonly drained: (timeoutMs?: number) => Promise<void>
  readonly statStatements: string
  readonly close: () => Promise<void>
}

const quoteIdent = (name: string): string => `"${name.replaceAll("\"", "\"\"")}"`

export const openPostgres = async (url: string, database: string): Promise<Postgres> => {
  const client = new pg.Client({ connectionString: withDatabase(url, "postgres") })
  await client.connect()
  const exists = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [database])
  if (exists.rowCount === 0) {
    try {
      await client.query(`CREATE DATABASE ${quoteIdent(database)}`)
    } catch (error) {
      // 42P04: another bench run created it between the check and the create
      if ((error as { code?: string }).code !== "42P04") throw error
    }
  }
  const preload = await client.query<{ shared_preload_libraries: string }>("SHOW shared_preload_libraries")
  const available = await client.query("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_stat_statements'")
  const loaded = preload.rows[0]?.shared_preload_libraries.includes("pg_stat_statements") ?? false
  const statStatements = loaded ? "loaded" : available.rowCount === 0 ? "not installed" : "installed, not preloaded"
  return {
    statStatements,
    transactions: async () => {
      const result = await client.query<{ n: string }>(
        "SELECT (xact_commit + xact_rollback)::text AS n FROM pg_stat_database WHERE datname = $1",
        [database]
      )
      return Number(result.rows[0]?.n ?? Number.NaN)
    },
    drained: async (timeoutMs = 5000) => {
      const started = performance.now()
      while (performance.now() - started < timeoutMs) {
        const result = await client.query<{ n: number }>(
          "SELECT numbackends AS n FROM pg_stat_database WHERE datname = $1",
          [database]
        )
        if ((result.rows[0]?.n ?? 0) === 0) return
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      throw new Error(`connections to ${database} still open after ${timeoutMs} ms`)
    },
    close: () => client.end()
  }
}

export interface RedisCounter {
  readonly pings: () => Promise<number>
  readonly close: () => Promise<void>
}

export const openRedis = async (url: string): Promise<RedisCounter> => {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  await client.connect()
  return {
    pings: async () => {
      const info = await client.info("commandstats")
      const match = /^cmdstat_ping:calls=(\d+)/m.exec(info)
      return match?.[1] === undefined ? 0 : Number(match[1])
    },
    close: async () => {
      await client.quit()
    }
  }
}

export interface Counts {
  readonly at: number
  readonly transactions: number
  readonly pings: number
}

export interface Rates {
  readonly seconds: number
  readonly transactions: number
  readonly pings: number
  readonly transactionsPerSecond: number
  readonly pingsPerSecond: number
}

export const counts = async (postgres: Postgres, redis: RedisCounter): Promise<Counts> => {
  const [transactions, pings] = await Promise.all([postgres.transactions(), redis.pings()])
  return { at: performance.now(), transactions, pings }
}

export const rates = (from: Counts, to: Counts): Rates => {
  const seconds = (to.at - from.at) / 1000
  const transactions = to.transactions - from.transactions
  const pings = to.pings - from.pings
  return {
    seconds,
    transactions,
    pings,
    transactionsPerSecond: transactions / seconds,
    pingsPerSecond: pings / seconds
  }
}
