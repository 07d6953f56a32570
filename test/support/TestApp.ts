// Serves the real app (App.make, the same composition main.ts runs) on a free loopback port for a test, with
// the layers the test chooses, and probes it over real HTTP.
import * as HttpServer from "@effect/platform/HttpServer"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as App from "../../src/App.js"
import * as Edge from "../../src/Edge.js"
import { ReadinessReport } from "../../src/http/Api.js"
import { type Limits, Listener } from "../../src/http/Listener.js"
import type { StatusToken } from "../../src/http/StatusToken.js"
import { Database } from "../../src/layers/Database.js"
import * as Dependency from "../../src/layers/Dependency.js"
import { Redis } from "../../src/layers/Redis.js"
import { Readiness, ReadinessSettings } from "../../src/Readiness.js"
import { ShutdownSettings } from "../../src/Shutdown.js"
import { Status } from "../../src/Status.js"
import { Tenants } from "../../src/Tenants.js"

export interface Probe {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  readonly json: unknown
  readonly elapsedMs: number
}

/** A readiness report as the API defines it. */
export type Report = typeof ReadinessReport.Type

/** Decodes a `/readyz` body with the API's own schema: a body that breaks it fails the test. */
export const decodeReport = Schema.decodeUnknown(Schema.parseJson(ReadinessReport))

export const settings = (
  options: Partial<Parameters<typeof ReadinessSettings.make>[0]> = {}
) =>
  ReadinessSettings.make({
    ...options,
    timeout: options.timeout ?? "500 millis",
    interval: options.interval ?? "1 second"
  })

/** No drain: an in-process app stops as soon as its scope closes. */
export const shutdownSettings = (
  options: { readonly drain?: Duration.DurationInput; readonly timeout?: Duration.DurationInput } = {}
) =>
  Layer.succeed(ShutdownSettings, {
    drain: Duration.decode(options.drain ?? 0),
    timeout: Duration.decode(options.timeout ?? "4 seconds")
  })

export type Served = Effect.Effect.Success<ReturnType<typeof serve>>

export const serve = <DatabaseError, RedisError>(layers: {
  readonly database: Layer.Layer<Database, DatabaseError>
  readonly redis: Layer.Layer<Redis, RedisError>
  readonly settings?: Layer.Layer<ReadinessSettings>
  readonly shutdown?: Layer.Layer<ShutdownSettings>
  readonly limits?: Partial<Limits>
  /** Per-tenant readiness (e.g. `Tenants.layerFromTargets`); the service is returned as `tenants`. */
  readonly tenants?: Layer.Layer<Tenants, never, ReadinessSettings>
  readonly token?: Layer.Layer<StatusToken>
}) =>
  Effect.gen(function*() {
    // Memoized, so the app and the test see the same tenants.
    const tenantsLayer = layers.tenants === undefined ? undefined : yield* Layer.memoize(layers.tenants)
    const readinessSettings = layers.settings ?? settings()
    const context = yield* Layer.build(
      App.make({
        dependencies: [Dependency.check(Database, layers.database), Dependency.check(Redis, layers.redis)],
        settings: readinessSettings,
        ...(tenantsLayer === undefined ? {} : { tenants: tenantsLayer }),
        ...(layers.token === undefined ? {} : { token: layers.token })
      }).pipe(
        Layer.provideMerge(
          Edge.make(
            Listener.layer({ port: 0, host: "127.0.0.1", ...(layers.limits ? { limits: layers.limits } : {}) }),
            layers.shutdown ?? shutdownSettings()
          )
        )
      )
    )
    const server = Context.get(context, HttpServer.HttpServer)
    const readiness = Context.get(context, Readiness)
    const address = server.address
    if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("expected a TCP address")
    const origin = `http://127.0.0.1:${address.port}`

    // A real-time limit on every request: on the TestClock, a probe that waited on a round would otherwise hang.
    const request = (path: string, init?: RequestInit): Effect.Effect<Probe> =>
      Effect.promise(async () => {
        const start = performance.now()
        const response = await fetch(`${origin}${path}`, { signal: AbortSignal.timeout(5_000), ...init })
        const text = await response.text()
        const elapsedMs = performance.now() - start
        let json: unknown = undefined
        try {
          json = JSON.parse(text)
        } catch {
          // not every answer has a body
        }
        return { status: response.status, headers: response.headers, text, json, elapsedMs }
      })

    const tenants = tenantsLayer === undefined
      ? undefined
      : Context.get(yield* Layer.build(tenantsLayer.pipe(Layer.provide(readinessSettings))), Tenants)

    return {
      port: address.port,
      readiness,
      tenants,
      /** The SLA report's service, as the app built it. */
      status: Context.get(context, Status),
      request,
      /** GET /readyz, with its body decoded as a report. */
      ready: Effect.flatMap(request("/readyz"), (probe) =>
        Effect.map(decodeReport(probe.text), (body) => ({ ...probe, body })))
    }
  })
