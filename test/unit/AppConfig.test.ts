import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as AppConfig from "../../src/AppConfig.js"
import { ReadinessSettings } from "../../src/Readiness.js"
import { ShutdownSettings } from "../../src/Shutdown.js"
import { describeStartupFailure } from "../../src/Startup.js"

const all = Config.all({
  port: AppConfig.port,
  host: AppConfig.host,
  databaseUrl: AppConfig.databaseUrl,
  redisUrl: AppConfig.redisUrl,
  readinessTimeout: AppConfig.readinessTimeout,
  readinessInterval: AppConfig.readinessInterval,
  shutdownDrain: AppConfig.shutdownDrain,
  shutdownTimeout: AppConfig.shutdownTimeout,
  notReadyStatus: AppConfig.notReadyStatus,
  failureThreshold: AppConfig.failureThreshold,
  successThreshold: AppConfig.successThreshold,
  maxConnections: AppConfig.maxConnections,
  logFormat: AppConfig.logFormat,
  logLevel: AppConfig.logLevel
})

const load = (env: Record<string, string>) =>
  Effect.exit(Effect.withConfigProvider(all, ConfigProvider.fromMap(new Map(Object.entries(env)))))

/** The one line a service that cannot start prints. */
const startupLine = (env: Record<string, string>) =>
  Effect.map(load(env), (exit) => Exit.isFailure(exit) ? describeStartupFailure(exit.cause) : "started")

describe("configuration", () => {
  it.effect("defaults match the README", () =>
    Effect.gen(function*() {
      const config = yield* Effect.flatten(load({}))
      expect(config.port).toBe(3000)
      expect(config.host).toBe("0.0.0.0")
      expect(Redacted.value(config.databaseUrl)).toBe("postgres://postgres@127.0.0.1:5432/postgres")
      expect(Redacted.value(config.redisUrl)).toBe("redis://127.0.0.1:6379")
      expect(Duration.toMillis(config.readinessTimeout)).toBe(500)
      expect(Duration.toMillis(config.readinessInterval)).toBe(1000)
      expect(Duration.toMillis(config.shutdownDrain)).toBe(5000)
      expect(Duration.toMillis(config.shutdownTimeout)).toBe(10_000)
      expect(config.notReadyStatus).toBe(200)
      expect(config.failureThreshold).toBe(1)
      expect(config.successThreshold).toBe(1)
      expect(config.maxConnections._tag).toBe("None")
      expect(config.logFormat._tag).toBe("None")
      expect(config.logLevel._tag).toBe("Info")
    }))

  it.effect("orchestration settings are read from the environment", () =>
    Effect.gen(function*() {
      const config = yield* Effect.flatten(load({
        SHUTDOWN_DRAIN_MS: "0",
        SHUTDOWN_TIMEOUT_MS: "2500",
        READYZ_NOT_READY_STATUS: "503",
        READINESS_FAILURE_THRESHOLD: "3",
        READINESS_SUCCESS_THRESHOLD: "2",
        MAX_CONNECTIONS: "500",
        LOG_FORMAT: "json",
        LOG_LEVEL: "warn"
      }))
      expect(Duration.toMillis(config.shutdownDrain)).toBe(0)
      expect(Duration.toMillis(config.shutdownTimeout)).toBe(2500)
      expect(config.notReadyStatus).toBe(503)
      expect(config.failureThreshold).toBe(3)
      expect(config.successThreshold).toBe(2)
      expect(config.maxConnections).toEqual(Option.some(500))
      expect(config.logFormat).toEqual(Option.some("json"))
      expect(config.logLevel._tag).toBe("Warning")
    }))

  it.effect("values are read from the environment", () =>
    Effect.gen(function*() {
      const config = yield* Effect.flatten(load({
        PORT: "8080",
        HOST: "127.0.0.1",
        DATABASE_URL: "postgresql://app:s3cret@db.internal:6543/app",
        REDIS_URL: "rediss://:pw@cache:6380/2",
        READINESS_TIMEOUT_MS: "250",
        READINESS_INTERVAL_MS: "2000"
      }))
      expect(config.port).toBe(8080)
      expect(Redacted.value(config.databaseUrl)).toBe("postgresql://app:s3cret@db.internal:6543/app")
      expect(Duration.toMillis(config.readinessTimeout)).toBe(250)
      expect(Duration.toMillis(config.readinessInterval)).toBe(2000)
    }))

  it.effect("connection URLs are secrets: they never show when printed or logged", () =>
    Effect.gen(function*() {
      const config = yield* Effect.flatten(load({ DATABASE_URL: "postgres://app:s3cret@db/app" }))
      expect(String(config.databaseUrl)).not.toContain("s3cret")
      expect(JSON.stringify(config)).not.toContain("s3cret")
    }))

  const badValues: ReadonlyArray<readonly [Record<string, string>, RegExp]> = [
    [{ PORT: "eighty" }, /^invalid configuration: PORT /],
    [{ PORT: "70000" }, /^invalid configuration: PORT /],
    [{ DATABASE_URL: "not a url" }, /^invalid configuration: DATABASE_URL must be a URL starting with postgres:/],
    [{ DATABASE_URL: "mysql://root:s3cret@db/app" }, /^invalid configuration: DATABASE_URL must be a URL/],
    [{ REDIS_URL: "http://cache:6379" }, /^invalid configuration: REDIS_URL must be a URL starting with redis:/],
    [{ REDIS_URL: "redis://:s3cret@127.0.0.1:6379/abc" }, /^invalid configuration: REDIS_URL must name its database /],
    [{ REDIS_URL: "redis://:s3cret@127.0.0.1:6379/-1" }, /^invalid configuration: REDIS_URL must name its database /],
    [{ REDIS_URL: "redis://:s3cret@127.0.0.1:6379?db=NaN" }, /^invalid configuration: REDIS_URL must give db /],
    [{ READINESS_TIMEOUT_MS: "soon" }, /^invalid configuration: READINESS_TIMEOUT_MS /],
    [{ READINESS_TIMEOUT_MS: "0" }, /^invalid configuration: READINESS_TIMEOUT_MS must be a whole number/],
    [{ READINESS_INTERVAL_MS: "-5" }, /^invalid configuration: READINESS_INTERVAL_MS /],
    [{ READYZ_NOT_READY_STATUS: "500" }, /^invalid configuration: READYZ_NOT_READY_STATUS /],
    [{ READYZ_NOT_READY_STATUS: "ok" }, /^invalid configuration: READYZ_NOT_READY_STATUS /],
    [{ SHUTDOWN_DRAIN_MS: "-1" }, /^invalid configuration: SHUTDOWN_DRAIN_MS /],
    [{ SHUTDOWN_TIMEOUT_MS: "10" }, /^invalid configuration: SHUTDOWN_TIMEOUT_MS /],
    [{ READINESS_FAILURE_THRESHOLD: "0" }, /^invalid configuration: READINESS_FAILURE_THRESHOLD /],
    [{ READINESS_SUCCESS_THRESHOLD: "x" }, /^invalid configuration: READINESS_SUCCESS_THRESHOLD /],
    [{ MAX_CONNECTIONS: "0" }, /^invalid configuration: MAX_CONNECTIONS /],
    [{ LOG_FORMAT: "xml" }, /^invalid configuration: LOG_FORMAT /],
    [{ LOG_LEVEL: "loud" }, /^invalid configuration: LOG_LEVEL /]
  ]
  it.effect.each(badValues)(
    "bad value %o → one line naming the variable, no secret",
    ([env, line]) =>
      Effect.gen(function*() {
        const message = yield* startupLine(env)
        expect(message).toMatch(line)
        expect(message).not.toContain("\n")
        expect(message).not.toContain("s3cret")
      })
  )

  it("a listen failure is one line too", () => {
    const cause = Cause.fail({ _tag: "ServeError", cause: new Error("listen EADDRINUSE: address already in use") })
    expect(describeStartupFailure(cause)).toBe("cannot listen: listen EADDRINUSE: address already in use")
  })
})

describe("the settings layers", () => {
  const settingsFrom = (env: Record<string, string>) =>
    Effect.gen(function*() {
      const context = yield* Layer.build(Layer.merge(ReadinessSettings.Live, ShutdownSettings.Live))
      const readiness = yield* Effect.provide(ReadinessSettings, context)
      const shutdown = yield* Effect.provide(ShutdownSettings, context)
      return {
        timeout: Duration.toMillis(readiness.timeout),
        interval: Duration.toMillis(readiness.interval),
        failureThreshold: readiness.failureThreshold,
        successThreshold: readiness.successThreshold,
        notReadyStatus: readiness.notReadyStatus,
        drain: Duration.toMillis(shutdown.drain),
        shutdownTimeout: Duration.toMillis(shutdown.timeout)
      }
    }).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))

  it.scoped("read each variable into its own field, and the defaults without them", () =>
    Effect.gen(function*() {
      expect(
        yield* settingsFrom({
          READINESS_TIMEOUT_MS: "250",
          READINESS_INTERVAL_MS: "2000",
          READINESS_FAILURE_THRESHOLD: "3",
          READINESS_SUCCESS_THRESHOLD: "2",
          READYZ_NOT_READY_STATUS: "503",
          SHUTDOWN_DRAIN_MS: "1500",
          SHUTDOWN_TIMEOUT_MS: "4000"
        })
      ).toEqual({
        timeout: 250,
        interval: 2000,
        failureThreshold: 3,
        successThreshold: 2,
        notReadyStatus: 503,
        drain: 1500,
        shutdownTimeout: 4000
      })
      expect(yield* settingsFrom({})).toEqual({
        timeout: 500,
        interval: 1000,
        failureThreshold: 1,
        successThreshold: 1,
        notReadyStatus: 200,
        drain: 5000,
        shutdownTimeout: 10_000
      })
    }))
})
