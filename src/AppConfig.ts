// Every setting the service reads from its environment, with the defaults documented in the README.
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
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
