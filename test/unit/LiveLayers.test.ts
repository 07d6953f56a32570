// The layers main.ts builds from the environment, each read from its variables, and the identities of the services
// and errors (service keys are "dashboard/Name", as the house style says; errors carry their tag).
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Edge from "../../src/Edge.js"
import { Listener } from "../../src/http/Listener.js"
import * as Server from "../../src/http/Server.js"
import { Database, DatabaseUnavailable } from "../../src/layers/Database.js"
import { check, reasonOf } from "../../src/layers/Dependency.js"
import { Redis, RedisUnavailable } from "../../src/layers/Redis.js"
import { CheckTimeout, Readiness, ReadinessSettings, runCheck } from "../../src/Readiness.js"
import { Shutdown, ShutdownSettings } from "../../src/Shutdown.js"
import { freePort } from "../support/Service.js"
import { hold, stillOpen, waitUntil } from "../support/Sockets.js"
import * as TestApp from "../support/TestApp.js"

const withEnv = (env: Record<string, string>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

describe("the live layers read their settings", () => {
  it.scopedLive("Database.Live and Redis.Live: the URL from the environment, the budget from readiness", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const context = yield* Layer.build(
        Layer.mergeAll(Database.Live, Redis.Live).pipe(Layer.provide(TestApp.settings({ timeout: "300 millis" })))
      ).pipe(withEnv({ DATABASE_URL: `postgres://u@127.0.0.1:${port}/db`, REDIS_URL: `redis://127.0.0.1:${port}` }))
      const database = yield* Effect.flip(Context.get(context, Database).ping)
      expect(database).toMatchObject({ _tag: "DatabaseUnavailable", reason: "connection refused" })
      const redis = yield* Effect.flip(Context.get(context, Redis).ping)
      expect(redis).toMatchObject({ _tag: "RedisUnavailable", reason: "connection refused" })
    }))

  it.scopedLive("Listener.Live: port and host from the environment", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const context = yield* Layer.build(
        Edge.make(Listener.Live(new Map()), TestApp.shutdownSettings())
      ).pipe(withEnv({ PORT: String(port), HOST: "127.0.0.1", MAX_CONNECTIONS: "7" }))
      expect(Context.get(context, Listener).address).toEqual({ hostname: "127.0.0.1", port })
      // MAX_CONNECTIONS is the cap: the eighth socket is closed without a byte while seven are held.
      const held = yield* hold(port, 7)
      expect(stillOpen(held)).toBe(7)
      const extra = yield* hold(port, 1)
      expect(yield* waitUntil(() => stillOpen(extra) === 0, 500)).toBe(true)
      expect(stillOpen(held)).toBe(7)
      const other = yield* freePort
      const byDefault = yield* Layer.build(
        Edge.make(Listener.Live(new Map()), TestApp.shutdownSettings())
      ).pipe(withEnv({ PORT: String(other), HOST: "127.0.0.1" }))
      expect(Context.get(byDefault, Listener).address).toEqual({ hostname: "127.0.0.1", port: other })
    }))

  it.effect("ShutdownSettings.Live: the drain and the timeout", () =>
    Effect.gen(function*() {
      const settings = yield* Effect.provide(ShutdownSettings, ShutdownSettings.Live).pipe(
        withEnv({ SHUTDOWN_DRAIN_MS: "1200", SHUTDOWN_TIMEOUT_MS: "3400" })
      )
      expect(settings).toEqual({ drain: Duration.millis(1_200), timeout: Duration.millis(3_400) })
    }))
})

describe("identities", () => {
  it("service keys are dashboard/Name", () => {
    expect(
      [Readiness, ReadinessSettings, Shutdown, ShutdownSettings, Server.FastRoutes, Database, Redis].map((tag) =>
        tag.key
      )
    ).toEqual([
      "dashboard/Readiness",
      "dashboard/ReadinessSettings",
      "dashboard/Shutdown",
      "dashboard/ShutdownSettings",
      "dashboard/FastRoutes",
      "dashboard/Database",
      "dashboard/Redis"
    ])
  })

  it("errors carry their tag", () => {
    expect(new CheckTimeout({ reason: "timeout" })._tag).toBe("CheckTimeout")
    expect(new RedisUnavailable({ reason: "timeout" })._tag).toBe("RedisUnavailable")
    expect(new DatabaseUnavailable({ reason: "timeout" })._tag).toBe("DatabaseUnavailable")
  })

  it.effect("a check past its budget fails with CheckTimeout inside the fold", () =>
    Effect.gen(function*() {
      const result = yield* runCheck("x", Effect.fail(new CheckTimeout({ reason: "timeout" })), "1 second")
      expect(result).toEqual({ status: "down", latencyMs: 0, error: "timeout" })
    }))

  it.scoped("a layer failing with a tagged value is logged by its tag, not its class; null by its type", () => {
    const names: Array<unknown> = []
    return Effect.gen(function*() {
      yield* check(Redis, Layer.fail({ _tag: "Custom" } as never))
      yield* check(Redis, Layer.fail({ _tag: 5 } as never))
      yield* check(Redis, Layer.effect(Redis, Effect.die(null)))
      expect(names).toEqual(["Custom", "Object", "object"])
    }).pipe(Effect.provide(Logger.replace(
      Logger.defaultLogger,
      Logger.make(({ annotations }) => names.push(Object.fromEntries(annotations).error))
    )))
  })

  it("nested aggregated errors are followed five levels deep, like causes", () => {
    const code = Object.assign(new Error("x"), { code: "ECONNRESET" })
    const nested = (depth: number): unknown => depth === 0 ? code : new AggregateError([nested(depth - 1)])
    expect(reasonOf(nested(5))).toBe("connection reset")
    expect(reasonOf(nested(7))).toBe("unavailable")
  })
})
