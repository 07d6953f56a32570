// The service with many tenants, for the bench's tenant run: the app as src/main.ts builds it (the same listener and
// App.make), its tenants given in-process because chaos tenants cannot be written in a file. CHAOS_TENANTS chaos
// tenants (every tenth one's database hangs) and LIVE_TENANTS schema tenants (`bench_t<i>` in TENANT_DATABASE_URL,
// owned by role `dashboard_bench_t<i>`, through the live schema check with SET LOCAL ROLE). Every TENANT_ROUND_EVERY_MS it prints one JSON line: how long a tenant round took,
// the tenant counts, and the checks each chaos tenant started since the last line. With no tenants it is the
// single-tenant app, the baseline.
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as App from "../src/App.js"
import * as AppConfig from "../src/AppConfig.js"
import * as Edge from "../src/Edge.js"
import { Listener } from "../src/http/Listener.js"
import { bootRoutes } from "../src/http/Liveness.js"
import type { DatabaseUnavailable } from "../src/layers/Database.js"
import { Database } from "../src/layers/Database.js"
import * as Dependency from "../src/layers/Dependency.js"
import { Redis } from "../src/layers/Redis.js"
import * as TenantSchema from "../src/layers/TenantSchema.js"
import { ReadinessSettings } from "../src/Readiness.js"
import { DrainOnSignal, ShutdownSettings } from "../src/Shutdown.js"
import { Tenants, type TenantsService, TenantTarget } from "../src/Tenants.js"
import { decodeTenantsFile } from "../src/TenantsFile.js"
import * as TenantsLive from "../src/TenantsLive.js"

const chaosCount = Number(process.env.CHAOS_TENANTS ?? 0)
const liveCount = Number(process.env.LIVE_TENANTS ?? 0)
const reportEveryMillis = Number(process.env.TENANT_ROUND_EVERY_MS ?? 2_000)
const timedRounds = Number(process.env.TENANT_TIMED_ROUNDS ?? 3)

// Checks started per tenant (the chaos tenants, then the live ones): a hung check still running must not be started
// again (single flight), and no tenant is checked more than once per interval.
const started = new Uint32Array(chaosCount + liveCount)
const countingDatabase = (index: number, hangs: boolean) =>
  Layer.succeed(
    Database,
    Database.of({
      ping: Effect.suspend(() => {
        started[index]! += 1
        return hangs ? Effect.never.pipe(Effect.uninterruptible) : Effect.void
      }) as Effect.Effect<void, DatabaseUnavailable>
    })
  )

let tenantsService: TenantsService | undefined

const tenantsLayer = Layer.unwrapEffect(Effect.gen(function*() {
  const settings = yield* ReadinessSettings
  const chaos = Array.from(
    { length: chaosCount },
    (_, i) => TenantTarget.make(`chaos-${i}`, { database: countingDatabase(i, i % 10 === 0), redis: Redis.Test })
  )
  const file = decodeTenantsFile(JSON.stringify({
    tenants: Array.from({ length: liveCount }, (_, i) => ({
      id: `live-${i}`,
      postgres: { schema: `bench_t${i}`, role: `dashboard_bench_t${i}` },
      redis: { url: "redis://127.0.0.1:6379", keyPrefix: `bench_t${i}:` }
    }))
  }))
  if (Either.isLeft(file)) return yield* Effect.dieMessage(file.left.problems.join("; "))
  const shared: TenantsLive.Shared = {
    redisUrl: Redacted.make(process.env.REDIS_URL ?? "redis://127.0.0.1:6379"),
    settings,
    schemaPool: TenantSchema.TenantSchemaPool.layer({
      url: Redacted.make(process.env.TENANT_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"),
      timeout: settings.timeout
    })
  }
  const live = file.right.map((tenant, i) => {
    const target = TenantsLive.liveTarget(tenant, shared)
    const counted = Layer.map(target.database, (context) => {
      const database = Context.get(context, Database)
      return Context.add(
        context,
        Database,
        Database.of({
          ...database,
          ping: Effect.suspend(() => {
            started[chaosCount + i]! += 1
            return database.ping
          })
        })
      )
    })
    return TenantTarget.make(target.id, { database: counted, redis: target.redis }, target.key)
  })
  return Tenants.layerFromTargets([...chaos, ...live])
})).pipe(
  // The app keeps the service to itself; the report reads it from here.
  Layer.tap((context) => Effect.sync(() => (tenantsService = Context.get(context, Tenants))))
)

const service = App.make({
  dependencies: [Dependency.check(Database, Database.Live), Dependency.check(Redis, Redis.Live)],
  settings: ReadinessSettings.Live,
  ...(chaosCount + liveCount === 0 ? {} : { tenants: tenantsLayer })
})

// One JSON line per period: the time a whole tenant round takes (a round started now, or the one in flight, joined),
// the counts, and the chaos checks started per tenant since the last line.
const report = Effect.gen(function*() {
  const tenants = tenantsService
  if (tenants === undefined) return
  let previous = Array.from(started)
  let previousAt = yield* Clock.currentTimeMillis
  let reports = 0
  yield* Effect.gen(function*() {
    // The first few lines time a whole round (joining the background one, or starting one); the later ones only count
    // the checks the background rounds start, so that the count is not inflated by rounds run for the timing.
    const timed = reports++ < timedRounds
    const start = yield* Clock.currentTimeMillis
    if (timed) yield* tenants.refresh
    const roundMs = timed ? (yield* Clock.currentTimeMillis) - start : null
    const now = yield* Clock.currentTimeMillis
    let most = 0
    let mostLive = 0
    let liveTotal = 0
    started.forEach((n, i) => {
      if (i < chaosCount) most = Math.max(most, n - previous[i]!)
      else {
        mostLive = Math.max(mostLive, n - previous[i]!)
        liveTotal += n
      }
    })
    const seconds = (now - previousAt) / 1000
    previous = Array.from(started)
    previousAt = now
    process.stdout.write(
      `${
        JSON.stringify({
          roundMs,
          counts: tenants.counts(),
          mostChecksPerTenant: most,
          mostSchemaChecksPerTenant: mostLive,
          schemaChecksTotal: liveTotal,
          seconds
        })
      }\n`
    )
  }).pipe(Effect.repeat(Schedule.spaced(reportEveryMillis)), Effect.delay("1 second"), Effect.forkScoped)
})

const ListenerLive = Layer.unwrapEffect(
  Effect.map(
    Effect.all([AppConfig.notReadyStatus, Effect.clock]),
    ([notReadyStatus, clock]) => Listener.Live(bootRoutes(notReadyStatus, () => clock.unsafeCurrentTimeMillis()))
  )
)

Layer.scopedDiscard(report).pipe(
  Layer.provideMerge(DrainOnSignal),
  Layer.provideMerge(service),
  Layer.provideMerge(Edge.make(ListenerLive, ShutdownSettings.Live)),
  Layer.launch,
  NodeRuntime.runMain({ disablePrettyLogger: true })
)
