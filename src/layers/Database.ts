// PostgreSQL as a service: a pg pool owned here, used through @effect/sql-pg, and a `ping` for readiness.
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import Pg from "pg"
import * as AppConfig from "../AppConfig.js"
import { ReadinessSettings } from "../Readiness.js"
import * as Chaos from "./Chaos.js"
import { type FailureReason } from "./Dependency.js"
import { reasonOfPostgresError } from "./PostgresErrors.js"

export class DatabaseUnavailable extends Data.TaggedError("DatabaseUnavailable")<{
  readonly reason: FailureReason
  readonly cause?: unknown
}> {}

export interface DatabaseOptions {
  readonly url: Redacted.Redacted
  /** Bounds a connection attempt and a query underneath the probe, so nothing a check starts outlives it for long. */
  readonly timeout: Duration.DurationInput
  readonly maxConnections?: number
  /** How long an idle connection is kept before the pool closes it (pg's default: 10 s). */
  readonly idleTimeout?: Duration.DurationInput
}

interface PoolClientState {
  // pg's own flag: false while a query is still in flight on the connection.
  readonly readyForQuery?: boolean
}

/** What every pool of ours needs: it survives a PostgreSQL restart, and never reuses a connection lost mid-query. */
export const guardPool = (pool: Pg.Pool): void => {
  // An idle connection that errors (PostgreSQL restarting) is dropped by the pool; without a listener Node
  // would treat the 'error' event as fatal.
  pool.on("error", () => {})
  // A connection handed back mid-query (a check that timed out, a query_timeout) has lost its place in the
  // protocol: reusing it would hang every later query, so it is closed instead of returned to the pool.
  pool.on("release", (_error: unknown, client: Pg.PoolClient & PoolClientState) => {
    if (client.readyForQuery === false) void client.end().catch(() => {})
  })
}

const makeDatabase = (options: DatabaseOptions) =>
  Effect.gen(function*() {
    const timeoutMillis = Math.max(1, Math.round(Duration.toMillis(options.timeout)))
    const pool = yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          new Pg.Pool({
            connectionString: Redacted.value(options.url),
            max: options.maxConnections ?? 10,
            idleTimeoutMillis: options.idleTimeout === undefined ? 10_000 : Duration.toMillis(options.idleTimeout),
            connectionTimeoutMillis: timeoutMillis,
            query_timeout: timeoutMillis,
            keepAlive: true,
            application_name: "dashboard"
          }),
        catch: (cause) => new DatabaseUnavailable({ reason: "not initialised", cause })
      }),
      // A release runs uninterruptibly: without `interruptible` the timeout could not abandon an end() that waits on a
      // client held by a hung query, and shutdown would wait forever.
      (pool) => Effect.promise(() => pool.end()).pipe(Effect.interruptible, Effect.timeoutOption("2 seconds"))
    )
    guardPool(pool)

    // fromPool takes the connection settings, application_name included, from the pool itself.
    const sql = yield* PgClient.fromPool({ acquire: Effect.succeed(pool) }).pipe(
      Effect.provide(Reactivity.layer),
      Effect.mapError((cause) => new DatabaseUnavailable({ reason: "not initialised", cause }))
    )

    return Database.of({
      ping: sql`SELECT 1`.pipe(
        Effect.asVoid,
        Effect.mapError((error) =>
          new DatabaseUnavailable({ reason: reasonOfPostgresError(error.cause), cause: error })
        ),
        Effect.withSpan("Database.ping")
      )
    })
  })

export class Database extends Context.Tag("dashboard/Database")<Database, {
  /** A real `SELECT 1` through the pool. */
  readonly ping: Effect.Effect<void, DatabaseUnavailable>
}>() {
  static readonly checkName = "database"

  static readonly NotInitialised = Database.of({
    ping: Effect.fail(new DatabaseUnavailable({ reason: "not initialised" }))
  })

  /** Touches no network while it is built: the pool connects on demand. */
  static readonly layer = (options: DatabaseOptions): Layer.Layer<Database, DatabaseUnavailable> =>
    Layer.scoped(Database, makeDatabase(options))

  /** DATABASE_URL, with the readiness budget bounding connections and queries. */
  static readonly Live: Layer.Layer<Database, ConfigError.ConfigError | DatabaseUnavailable, ReadinessSettings> = Layer
    .unwrapEffect(
      Effect.map(
        Effect.all([AppConfig.databaseUrl, ReadinessSettings]),
        ([url, settings]) => Database.layer({ url, timeout: settings.timeout })
      )
    )

  private static readonly chaos = Chaos.make(Database, (reason) => new DatabaseUnavailable({ reason }))
  /** A healthy Database that touches no server. */
  static readonly Test = Database.chaos.Healthy
  static readonly Unavailable = Database.chaos.Unavailable
  static readonly Hanging = Database.chaos.Hanging
  static readonly Slow = Database.chaos.Slow
  static readonly Dying = Database.chaos.Dying
  static readonly FailingConstruction = Database.chaos.FailingConstruction
  static readonly Switchable = Database.chaos.Switchable
}
