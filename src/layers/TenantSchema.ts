// A schema tenant's PostgreSQL check: in a transaction on the tenant schemas' pool (DATABASE_URL), as the tenant's
// role, it proves the schema exists and the role may use it. It provides `Database`, so readiness and the chaos
// layers treat it like any other database check.
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import Pg from "pg"
import { Database, DatabaseUnavailable, guardPool } from "./Database.js"
import { reasonOfPostgresError } from "./PostgresErrors.js"

/** The pool every schema tenant's check runs on: its own, so no tenant can hold a connection the shared check needs. */
export class TenantSchemaPool extends Context.Tag("dashboard/TenantSchemaPool")<TenantSchemaPool, {
  readonly pool: Pg.Pool
  readonly timeoutMillis: number
}>() {
  /** Lazy: it connects on a schema tenant's first check, and closes idle connections after 10 s. */
  static readonly layer = (
    options: { readonly url: Redacted.Redacted; readonly timeout: Duration.DurationInput; readonly max?: number }
  ): Layer.Layer<TenantSchemaPool> =>
    Layer.scoped(
      TenantSchemaPool,
      Effect.gen(function*() {
        const timeoutMillis = Math.max(1, Math.round(Duration.toMillis(options.timeout)))
        const pool = yield* Effect.acquireRelease(
          Effect.sync(() =>
            new Pg.Pool({
              connectionString: Redacted.value(options.url),
              max: options.max ?? 4,
              idleTimeoutMillis: 10_000,
              connectionTimeoutMillis: timeoutMillis,
              query_timeout: timeoutMillis,
              application_name: "dashboard-tenants"
            })
          ),
          // A release runs uninterruptibly: without `interruptible` the timeout could not abandon an end() that waits on a
          // client held by a hung query, and shutdown would wait forever.
          (pool) => Effect.promise(() => pool.end()).pipe(Effect.interruptible, Effect.timeoutOption("2 seconds"))
        )
        guardPool(pool)
        return { pool, timeoutMillis }
      })
    )
}

const quoteIdentifier = (name: string) => `"${name.replaceAll("\"", "\"\"")}"`

class SchemaProblem extends Error {
  constructor(readonly reason: "schema not found" | "permission denied") {
    super(reason)
  }
}

const checkSchema = async (
  { pool, timeoutMillis }: typeof TenantSchemaPool.Service,
  schema: string,
  role: string | undefined
): Promise<void> => {
  const client = await pool.connect()
  let reusable = false
  try {
    await client.query("BEGIN")
    // The server gives up on its own too, so a hung check does not keep the connection past its budget.
    await client.query(`SET LOCAL statement_timeout = ${timeoutMillis}`)
    if (role !== undefined) await client.query(`SET LOCAL ROLE ${quoteIdentifier(role)}`)
    const found = await client.query<{ usable: boolean }>(
      "SELECT has_schema_privilege(oid, 'USAGE') AS usable FROM pg_namespace WHERE nspname = $1",
      [schema]
    )
    await client.query("ROLLBACK")
    reusable = true
    if (found.rows.length === 0) throw new SchemaProblem("schema not found")
    if (found.rows[0]?.usable !== true) throw new SchemaProblem("permission denied")
  } finally {
    // A connection whose transaction failed part way is closed rather than returned in an unknown state.
    client.release(reusable ? undefined : true)
  }
}

const reasonOf = (error: unknown) => {
  if (error instanceof SchemaProblem) return error.reason
  // SET ROLE to a role that does not exist (22023): the tenant's credentials are wrong.
  if (error instanceof Error && /role .* does not exist/i.test(error.message)) return "authentication failed" as const
  return reasonOfPostgresError(error)
}

/** The check of one schema tenant, as a Database. */
export const layer = (
  target: { readonly schema: string; readonly role?: string | undefined }
): Layer.Layer<Database, never, TenantSchemaPool> =>
  Layer.effect(
    Database,
    Effect.map(TenantSchemaPool, (pool) =>
      Database.of({
        ping: Effect.tryPromise({
          try: () => checkSchema(pool, target.schema, target.role),
          catch: (cause) => new DatabaseUnavailable({ reason: reasonOf(cause), cause })
        }).pipe(Effect.withSpan("TenantSchema.ping"))
      }))
  )
