// The Prometheus metrics: every readiness round folded into gauges and counters, the requests the server counts, and
// the process and Node runtime metrics, all kept and formatted by prom-client and scraped from memory.
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Prometheus from "prom-client"
import { failureReasons } from "./layers/Dependency.js"
import { Readiness, ReadinessSettings, type Round } from "./Readiness.js"
import { Tenants, type TenantsService, TenantStatus } from "./Tenants.js"

/** Check latency buckets in seconds; the configured budget is added, so a timed-out check lands on its own bucket. */
export const latencyBuckets = (budget: Duration.Duration): ReadonlyArray<number> =>
  [...new Set([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, Duration.toMillis(budget) / 1000])]
    .sort((a, b) => a - b)

/** The status classes counted; a status outside 100-599 is not counted. */
const statusClasses = ["1xx", "2xx", "3xx", "4xx", "5xx"] as const

// promtool rejects a gauge whose name ends in `_total`; these three repeat the labelled gauges beside them.
const unlintedDefaults = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total"
]

// The process and runtime metrics describe the process, so they are registered once per process: an event-loop
// monitor and a GC observer each, which a second app in the same process (a test) must not add again.
let processRegistry: Prometheus.Registry | undefined
const processMetrics = (): Prometheus.Registry => {
  if (processRegistry === undefined) {
    processRegistry = new Prometheus.Registry()
    Prometheus.collectDefaultMetrics({ register: processRegistry })
    for (const name of unlintedDefaults) processRegistry.removeSingleMetric(name)
  }
  return processRegistry
}

/**
 * Request counts by route and status class. Counting is an integer add on a slot resolved ahead of time; the
 * counts reach the prom-client counter only when it is scraped.
 */
export interface RequestCounts {
  /** The counter of one route: called with each answer's status. */
  readonly route: (route: string) => (status: number) => void
}

const makeRequestCounts = (registry: Prometheus.Registry): RequestCounts => {
  const slots = new Map<string, { readonly counts: Float64Array; readonly synced: Float64Array }>()
  new Prometheus.Counter({
    name: "dashboard_http_requests_total",
    help: "HTTP requests answered, by route and status class.",
    labelNames: ["route", "code"] as const,
    registers: [registry],
    collect() {
      for (const [route, { counts, synced }] of slots) {
        statusClasses.forEach((code, i) => {
          const delta = counts[i + 1]! - synced[i + 1]!
          if (delta > 0) this.inc({ route, code }, delta)
          synced[i + 1] = counts[i + 1]!
        })
      }
    }
  })
  return {
    route: (route) => {
      let slot = slots.get(route)
      if (slot === undefined) {
        slot = { counts: new Float64Array(10), synced: new Float64Array(10) }
        slots.set(route, slot)
      }
      const counts = slot.counts
      return (status) => {
        const index = (status / 100) | 0
        counts[index] = counts[index]! + 1
      }
    }
  }
}

/** Folds rounds into the readiness metrics; the time between two rounds is credited to the state reported over it. */
const makeReadinessMetrics = (registry: Prometheus.Registry, budget: Duration.Duration) => {
  const registers = [registry]
  const dependencyUp = new Prometheus.Gauge({
    name: "dashboard_dependency_up",
    help: "Whether the dependency is reported up (1) or down (0).",
    labelNames: ["dependency"] as const,
    registers
  })
  const ready = new Prometheus.Gauge({
    name: "dashboard_ready",
    help: "Whether the service is reported ready (1) or not (0).",
    registers
  })
  const checks = new Prometheus.Counter({
    name: "dashboard_readiness_checks_total",
    help: "Readiness checks run, by dependency, result and failure reason (\"none\" when up).",
    labelNames: ["dependency", "result", "reason"] as const,
    registers
  })
  const duration = new Prometheus.Histogram({
    name: "dashboard_readiness_check_duration_seconds",
    help: "How long each readiness check took, up to its budget.",
    labelNames: ["dependency"] as const,
    buckets: [...latencyBuckets(budget)],
    registers
  })
  const dependencyObserved = new Prometheus.Counter({
    name: "dashboard_dependency_observed_seconds_total",
    help: "Time between readiness rounds: each round adds the time since the previous one.",
    labelNames: ["dependency"] as const,
    registers
  })
  const dependencyUpSeconds = new Prometheus.Counter({
    name: "dashboard_dependency_up_seconds_total",
    help: "The part of the observed time during which the dependency was reported up.",
    labelNames: ["dependency"] as const,
    registers
  })
  const observed = new Prometheus.Counter({
    name: "dashboard_observed_seconds_total",
    help: "Time between readiness rounds: each round adds the time since the previous one.",
    registers
  })
  const readySeconds = new Prometheus.Counter({
    name: "dashboard_ready_seconds_total",
    help: "The part of the observed time during which the service was reported ready.",
    registers
  })
  const stateChanges = new Prometheus.Counter({
    name: "dashboard_state_changes_total",
    help: "Times the dependency's reported state flipped between up and down.",
    labelNames: ["dependency"] as const,
    registers
  })
  // Until the first round, readiness fails closed.
  ready.set(0)

  // Every series of a dependency exists from its first round on, so rate() and increase() see each from zero.
  const known = new Set<string>()
  const initialise = (dependency: string) => {
    known.add(dependency)
    for (const counter of [dependencyObserved, dependencyUpSeconds, stateChanges]) counter.inc({ dependency }, 0)
    checks.inc({ dependency, result: "up", reason: "none" }, 0)
    for (const reason of failureReasons) checks.inc({ dependency, result: "down", reason }, 0)
  }

  let previous: Round | undefined
  return (round: Round): void => {
    for (const [dependency, result] of Object.entries(round.results)) {
      if (!known.has(dependency)) initialise(dependency)
      checks.inc({ dependency, result: result.status, reason: result.error ?? "none" })
      duration.observe({ dependency }, result.latencyMs / 1000)
    }
    const seconds = previous === undefined ? 0 : Math.max(0, round.finishedAt - previous.finishedAt) / 1000
    for (const [dependency, reported] of Object.entries(round.reported.checks)) {
      if (!known.has(dependency)) initialise(dependency)
      dependencyUp.set({ dependency }, reported.status === "up" ? 1 : 0)
      const before = previous?.reported.checks[dependency]
      if (before === undefined) continue
      dependencyObserved.inc({ dependency }, seconds)
      if (before.status === "up") dependencyUpSeconds.inc({ dependency }, seconds)
      if (before.status !== reported.status) stateChanges.inc({ dependency })
    }
    ready.set(round.reported.status === "ready" ? 1 : 0)
    if (previous !== undefined) {
      observed.inc(seconds)
      if (previous.reported.status === "ready") readySeconds.inc(seconds)
    }
    previous = round
  }
}

/**
 * The tenants' metrics, read from the tenants' state when scraped: the count by state always, and one series per
 * tenant only while there are at most `metricsMax` tenants (past that the series are dropped, so the number of series
 * stays bounded whatever the file holds). The per-tenant series go in a registry of their own: they name tenants.
 */
const makeTenantMetrics = (registry: Prometheus.Registry, perTenant: Prometheus.Registry, tenants: TenantsService) => {
  new Prometheus.Gauge({
    name: "dashboard_tenants",
    help: "Tenants by state: up, down or not initialised.",
    labelNames: ["state"] as const,
    registers: [registry],
    collect() {
      const counts = tenants.counts()
      for (const state of TenantStatus.literals) this.set({ state }, counts[state])
    }
  })
  new Prometheus.Gauge({
    name: "dashboard_tenant_up",
    help: "Whether the tenant is reported up (1) or not (0); absent with more tenants than TENANT_METRICS_MAX.",
    labelNames: ["tenant"] as const,
    registers: [perTenant],
    collect() {
      // Removed tenants' series go with the reset.
      this.reset()
      if (tenants.size() > tenants.settings.metricsMax) return
      for (const report of tenants.reports()) this.set({ tenant: report.tenant }, report.status === "up" ? 1 : 0)
    }
  })
}

export interface MetricsService {
  readonly contentType: string
  /**
   * The exposition of every metric, read from memory: no dependency traffic. Series labelled by tenant are left out
   * when `tenantLabels` is false (a scrape without the status token).
   */
  readonly scrape: (options?: { readonly tenantLabels?: boolean }) => Promise<string>
  readonly requests: RequestCounts
}

export class Metrics extends Context.Tag("dashboard/Metrics")<Metrics, MetricsService>() {
  /** The metrics of this app: readiness rounds are folded in as they finish, for as long as the layer lives. */
  static readonly layer: Layer.Layer<Metrics, never, Readiness | ReadinessSettings> = Layer.scoped(
    Metrics,
    Effect.gen(function*() {
      const readiness = yield* Readiness
      const settings = yield* ReadinessSettings
      const own = new Prometheus.Registry()
      const record = makeReadinessMetrics(own, settings.timeout)
      const requests = makeRequestCounts(own)
      yield* readiness.rounds.pipe(Stream.runForEach((round) => Effect.sync(() => record(round))), Effect.forkScoped)
      const tenants = yield* Effect.serviceOption(Tenants)
      if (Option.isNone(tenants)) {
        const registry = Prometheus.Registry.merge([own, processMetrics()])
        return { contentType: registry.contentType, scrape: () => registry.metrics(), requests }
      }
      const perTenant = new Prometheus.Registry()
      makeTenantMetrics(own, perTenant, tenants.value)
      // A merged registry holds the metrics registered when it was made.
      const registry = Prometheus.Registry.merge([own, processMetrics()])
      const withTenantLabels = Prometheus.Registry.merge([own, perTenant, processMetrics()])
      return {
        contentType: registry.contentType,
        scrape: (options) => (options?.tenantLabels === false ? registry : withTenantLabels).metrics(),
        requests
      }
    })
  )
}
