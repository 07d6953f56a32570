// Every setting the service reads from its environment, with the defaults documented in the README.
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import { redisUrlProblem } from "./layers/RedisErrors.js"

/** A connection URL is a secret (it may hold a password): it is checked here and never echoed back. */
const connectionUrl = (
  name: string,
  protocols: ReadonlyArray<string>,
  fallback: string,
  problem: (url: URL) => string | undefined = () => undefined
) =>
  Config.redacted(name).pipe(
    Config.withDefault(Redacted.make(fallback)),
    Config.mapOrFail((url) => {
      const parsed = Either.try(() => new URL(Redacted.value(url)))
      if (Either.isLeft(parsed) || !protocols.includes(parsed.right.protocol) || parsed.right.hostname === "") {
        return Either.left(
          ConfigError.InvalidData([name], `must be a URL starting with ${protocols.map((p) => `${p}//`).join(" or ")}`)
        )
      }
      // The message names what is wrong, never the value: the URL may hold a password.
      const wrong = problem(parsed.right)
      return wrong === undefined ? Either.right(url) : Either.left(ConfigError.InvalidData([name], wrong))
    })
  )

const milliseconds = (name: string, fallback: number, minimum: number) =>
  Config.integer(name).pipe(
    Config.withDefault(fallback),
    Config.mapOrFail((n) =>
      n >= minimum
        ? Either.right(Duration.millis(n))
        : Either.left(ConfigError.InvalidData([name], `must be a whole number of milliseconds ≥ ${minimum}`))
    )
  )

export const port = Config.port("PORT").pipe(Config.withDefault(3000))
export const host = Config.string("HOST").pipe(Config.withDefault("0.0.0.0"))
export const databaseUrl = connectionUrl(
  "DATABASE_URL",
  ["postgres:", "postgresql:"],
  "postgres://postgres@127.0.0.1:5432/postgres"
)
export const redisUrl = connectionUrl("REDIS_URL", ["redis:", "rediss:"], "redis://127.0.0.1:6379", redisUrlProblem)
/** The budget of each readiness check. */
export const readinessTimeout = milliseconds("READINESS_TIMEOUT_MS", 500, 1)
/** How often the readiness snapshot is refreshed in the background. */
export const readinessInterval = milliseconds("READINESS_INTERVAL_MS", 1000, 10)
/** The most connections the HTTP server holds at once; by default derived from the open-files limit. */
export const maxConnections = Config.integer("MAX_CONNECTIONS").pipe(
  Config.mapOrFail((n) =>
    n >= 1 ? Either.right(n) : Either.left(ConfigError.InvalidData([], "must be a whole number ≥ 1"))
  ),
  Config.option
)
/** How long the service keeps serving, not ready, after SIGTERM, so load balancers stop routing to it. */
export const shutdownDrain = milliseconds("SHUTDOWN_DRAIN_MS", 5_000, 0)
/** Bounds the rest of the shutdown: in-flight requests, the pool and the client. */
export const shutdownTimeout = milliseconds("SHUTDOWN_TIMEOUT_MS", 10_000, 100)
/** The status of a not-ready answer: 200 (the body says it) or 503 (for clients that read only the code). */
export const notReadyStatus = Config.literal(200, 503)("READYZ_NOT_READY_STATUS").pipe(
  Config.withDefault(200 as const)
)
const consecutive = (name: string) =>
  Config.integer(name).pipe(
    Config.withDefault(1),
    Config.mapOrFail((n) =>
      n >= 1 ? Either.right(n) : Either.left(ConfigError.InvalidData([name], "must be a whole number ≥ 1"))
    )
  )
/** Consecutive failed rounds before a check is reported down. */
export const failureThreshold = consecutive("READINESS_FAILURE_THRESHOLD")
/** Consecutive successful rounds before a check is reported up again. */
export const successThreshold = consecutive("READINESS_SUCCESS_THRESHOLD")
export const logFormat = Config.literal("json", "pretty")("LOG_FORMAT").pipe(Config.option)
/** `trace`, `debug`, `info`, `warn`, `error`, `fatal` or `none`, in either case. */
export const logLevel = Config.string("LOG_LEVEL").pipe(
  Config.mapOrFail((name) => {
    const level = LogLevel.allLevels.find((level) => level.label === name.toUpperCase().replace(/^NONE$/, "OFF"))
    return level === undefined
      ? Either.left(ConfigError.InvalidData([], "must be trace, debug, info, warn, error, fatal or none"))
      : Either.right(level)
  }),
  Config.withDefault(LogLevel.Info)
)
/** The tenants file; without it the service has one implicit tenant, as before tenants existed. */
export const tenantsFile = Config.string("TENANTS_FILE").pipe(Config.option)
/** Ready when at least one tenant (`any`) or every tenant (`all`) is serviceable. */
export const readinessTenants = Config.literal("any", "all")("READINESS_TENANTS").pipe(
  Config.withDefault("any" as const)
)
const atLeast = (name: string, fallback: number, minimum: number) =>
  Config.integer(name).pipe(
    Config.withDefault(fallback),
    Config.mapOrFail((n) =>
      n >= minimum
        ? Either.right(n)
        : Either.left(ConfigError.InvalidData([name], `must be a whole number ≥ ${minimum}`))
    )
  )
/** Tenant checks running at once. A hung check holds its slot only until its budget. */
export const tenantCheckConcurrency = atLeast("TENANT_CHECK_CONCURRENCY", 128, 1)
/** Tenants beyond this many turn off the per-tenant series of `dashboard_tenant_up`. */
export const tenantMetricsMax = atLeast("TENANT_METRICS_MAX", 100, 0)
/** When set, what names a tenant (per-tenant readiness, /status, tenant labels in /metrics) needs this bearer token. */
export const statusToken = Config.redacted("STATUS_TOKEN").pipe(Config.option)
