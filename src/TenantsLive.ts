// The tenants of TENANTS_FILE: each tenant's live targets, and reloading the file on SIGHUP or when it changes. A
// file that cannot be read or decoded stops the service at start; on reload it keeps the previous tenants.
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as AppConfig from "./AppConfig.js"
import { Database } from "./layers/Database.js"
import { Redis } from "./layers/Redis.js"
import * as TenantSchema from "./layers/TenantSchema.js"
import { ReadinessSettings } from "./Readiness.js"
import { Tenants, TenantTarget } from "./Tenants.js"
import { decodeTenantsFile, type TenantConfig, TenantsFileInvalid } from "./TenantsFile.js"

/** The key a tenant's Redis check asks about, under its prefix: `EXISTS <prefix>dashboard:readyz`. */
export const probeKeyOf = (keyPrefix: string) => `${keyPrefix}dashboard:readyz`

/** REDIS_URL's host, port and database, as the tenant's ACL user. */
export const redisUrlAs = (shared: Redacted.Redacted, user: string, password: Redacted.Redacted) => {
  const url = new URL(Redacted.value(shared))
  url.username = user
  url.password = Redacted.value(password)
  return Redacted.make(url.toString())
}

export interface Shared {
  readonly redisUrl: Redacted.Redacted
  readonly settings: ReadinessSettings["Type"]
  readonly schemaPool: Layer.Layer<TenantSchema.TenantSchemaPool>
}

/** One tenant's live targets: its own lazy pool or a schema check, and its own lazy Redis client. */
export const liveTarget = (tenant: TenantConfig, shared: Shared): TenantTarget => {
  const timeout = shared.settings.timeout
  const postgres = tenant.postgres
  const database = postgres._tag === "database"
    ? Database.layer({
      url: postgres.url,
      timeout,
      maxConnections: postgres.maxConnections,
      idleTimeout: postgres.idleTimeoutMs
    })
    : TenantSchema.layer(postgres).pipe(Layer.provide(shared.schemaPool))
  const redisTarget = tenant.redis
  const redis = redisTarget._tag === "url"
    ? Redis.layer({
      url: redisTarget.url,
      timeout,
      lazy: true,
      ...(redisTarget.keyPrefix === undefined ? {} : { probeKey: probeKeyOf(redisTarget.keyPrefix) })
    })
    : Redis.layer({
      url: redisUrlAs(shared.redisUrl, redisTarget.user, redisTarget.password),
      timeout,
      lazy: true,
      probeKey: probeKeyOf(redisTarget.keyPrefix)
    })
  return TenantTarget.make(tenant.id, { database, redis }, tenant.key)
}

const readTenantsFile = (path: string): Either.Either<ReadonlyArray<TenantConfig>, TenantsFileInvalid> => {
  let text: string
  try {
    text = Fs.readFileSync(path, "utf8")
  } catch (error) {
    const code = error instanceof Error && "code" in error ? String(error.code) : "unknown error"
    return Either.left(new TenantsFileInvalid({ problems: [`the file cannot be read (${code})`] }))
  }
  return decodeTenantsFile(text)
}

/** How long the file must stay quiet after a change before it is read (an editor writes it in several steps). */
const debounceMillis = 200

const make = (path: string) =>
  Effect.gen(function*() {
    const settings = yield* ReadinessSettings
    const redisUrl = yield* AppConfig.redisUrl
    const databaseUrl = yield* AppConfig.databaseUrl
    const tenantsSettings = yield* Config.all({
      policy: AppConfig.readinessTenants,
      concurrency: AppConfig.tenantCheckConcurrency,
      metricsMax: AppConfig.tenantMetricsMax
    })
    const initial = readTenantsFile(path)
    if (Either.isLeft(initial)) {
      return yield* Effect.fail(ConfigError.InvalidData(["TENANTS_FILE"], initial.left.message))
    }
    // One pool for every schema tenant, built once (memoized) and only when a schema tenant first checks.
    const schemaPool = yield* Layer.memoize(
      TenantSchema.TenantSchemaPool.layer({ url: databaseUrl, timeout: settings.timeout })
    )
    const shared: Shared = { redisUrl, settings, schemaPool }
    const targets = (tenants: ReadonlyArray<TenantConfig>) => tenants.map((tenant) => liveTarget(tenant, shared))

    const context = yield* Layer.build(Tenants.layerFromTargets(targets(initial.right), tenantsSettings))
    const tenants = Context.get(context, Tenants)

    const reload = Effect.suspend(() => {
      const next = readTenantsFile(path)
      return Either.isRight(next)
        ? tenants.replace(targets(next.right))
        : Effect.logError(`TENANTS_FILE reload failed; keeping the previous tenants: ${next.left.message}`)
    })
    const runtime = yield* Effect.runtime<never>()
    const runReload = () => void Runtime.runFork(runtime)(reload)

    yield* Effect.acquireRelease(
      Effect.sync(() => process.on("SIGHUP", runReload)),
      () => Effect.sync(() => process.off("SIGHUP", runReload))
    )
    // The directory is watched, not the file: a file replaced by a rename (an editor, a Kubernetes ConfigMap) would
    // leave a watch on the file itself looking at the old one.
    const fileName = Path.basename(path)
    let timer: ReturnType<typeof setTimeout> | undefined
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        try {
          const watcher = Fs.watch(Path.dirname(path), (_event, changed) => {
            if (changed !== null && changed !== fileName && !changed.startsWith("..")) return
            clearTimeout(timer)
            timer = setTimeout(runReload, debounceMillis)
          })
          watcher.on("error", () => {})
          return Option.some(watcher)
        } catch {
          return Option.none<Fs.FSWatcher>()
        }
      }),
      (watcher) =>
        Effect.sync(() => {
          clearTimeout(timer)
          Option.map(watcher, (w) => w.close())
        })
    )
    return tenants
  })

/** TENANTS_FILE's tenants, reloaded on SIGHUP and when the file changes. */
export const layer = (path: string): Layer.Layer<Tenants, ConfigError.ConfigError, ReadinessSettings> =>
  Layer.scoped(Tenants, make(path))
