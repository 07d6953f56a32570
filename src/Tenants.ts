// Per-tenant readiness with bulkheads. Each tenant has its own database and Redis checks, built in its own scope and
// run in rounds under the readiness budget, detached, single flight per tenant, with bounded concurrency: a tenant
// that hangs or fails changes no other tenant's state. Probes read what the rounds leave behind (counts by state,
// one tenant's encoded answer) without touching a tenant; readiness folds the `tenants` check, which reads the counts.
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import type { FastAnswer } from "./http/Listener.js"
import { jsonHeaders } from "./http/Liveness.js"
import { Database } from "./layers/Database.js"
import { type Check, type CheckFailure, type FailureReason, reasonOf } from "./layers/Dependency.js"
import { Redis } from "./layers/Redis.js"
import { CheckResult, damp, ReadinessSettings, runCheck } from "./Readiness.js"

export const TenantStatus = Schema.Literal("up", "down", "not initialised")
export type TenantStatus = typeof TenantStatus.Type

/** One tenant's checks, as `GET /readyz/tenants/<id>` answers them and `/status` lists them. */
export const TenantReport = Schema.Struct({
  tenant: Schema.String,
  status: TenantStatus,
  /** When the tenant's last check finished, or when it was added (ISO 8601). */
  checkedAt: Schema.String,
  checks: Schema.Struct({ database: CheckResult, redis: CheckResult })
})
export type TenantReport = typeof TenantReport.Type

export interface TenantCounts {
  readonly up: number
  readonly down: number
  readonly "not initialised": number
}

/**
 * One tenant as the service checks it: its database and Redis as `Database` and `Redis` layers (the live ones, a
 * schema check, or any chaos layer such as `Database.Hanging`), built in the tenant's own scope on its first check and
 * released when the tenant is removed.
 */
export interface TenantTarget {
  readonly id: string
  /** Identifies the configuration: a reload rebuilds a tenant whose key changed and keeps one whose key did not. */
  readonly key: string
  readonly database: Layer.Layer<Database, unknown>
  readonly redis: Layer.Layer<Redis, unknown>
}

export const TenantTarget = {
  make: (
    id: string,
    layers: { readonly database: Layer.Layer<Database, unknown>; readonly redis: Layer.Layer<Redis, unknown> },
    key: string = id
  ): TenantTarget => ({ id, key, ...layers })
}

export class TenantsUnavailable extends Data.TaggedError("TenantsUnavailable")<{ readonly reason: FailureReason }> {}

export type TenantsPolicy = "any" | "all"

export interface TenantsSettings {
  /** Ready when at least one tenant (`any`) or every tenant (`all`) is up. */
  readonly policy: TenantsPolicy
  /** Tenant checks running at once; a hung check gives its slot back at its budget. */
  readonly concurrency: number
  /** `dashboard_tenant_up{tenant}` is exported only while there are at most this many tenants. */
  readonly metricsMax: number
}

export const defaultTenantsSettings: TenantsSettings = { policy: "any", concurrency: 128, metricsMax: 100 }

export interface TenantsService {
  readonly settings: TenantsSettings
  /** Tenants by state, kept as each tenant's check finishes: a read, never a walk over the tenants. */
  readonly counts: () => TenantCounts
  readonly size: () => number
  /** One tenant's answer for `GET /readyz/tenants/<id>`, encoded when its state last changed; undefined if unknown. */
  readonly answer: (id: string) => FastAnswer | undefined
  /** Every tenant's report, in configuration order (for /status and the metrics). */
  readonly reports: () => ReadonlyArray<TenantReport>
  /** Runs a round of tenant checks now, or joins the one in flight. */
  readonly refresh: Effect.Effect<void>
  /** Replaces the tenants: added ones start `not initialised`, removed ones are released, unchanged ones are kept. */
  readonly replace: (targets: ReadonlyArray<TenantTarget>) => Effect.Effect<void>
  /** The `tenants` check readiness folds: up while the policy is met. It reads the counts; it runs no tenant check. */
  readonly check: Check
}

type DependencyName = "database" | "redis"
const dependencyNames: ReadonlyArray<DependencyName> = ["database", "redis"]

const notInitialised: CheckResult = { status: "down", latencyMs: 0, error: "not initialised" }

interface Damping {
  readonly reported: "up" | "down"
  readonly streak: number
}

class TenantState {
  status: TenantStatus = "not initialised"
  checks: { database: CheckResult; redis: CheckResult } = { database: notInitialised, redis: notInitialised }
  checkedAt: number
  report: TenantReport
  answer: FastAnswer
  readonly damping = new Map<DependencyName, Damping>()
  /** Each dependency's check, once its layer is built. */
  readonly pings = new Map<DependencyName, Effect.Effect<void, CheckFailure>>()
  /** Each dependency's last check, which may still be running past its budget. */
  readonly running = new Map<DependencyName, Fiber.RuntimeFiber<void, CheckFailure>>()
  removed = false

  constructor(readonly target: TenantTarget, readonly scope: Scope.CloseableScope, at: number, notReady: 200 | 503) {
    this.checkedAt = at
    this.report = this.encode()
    this.answer = this.answerOf(notReady)
  }

  encode(): TenantReport {
    return {
      tenant: this.target.id,
      status: this.status,
      checkedAt: new Date(this.checkedAt).toISOString(),
      checks: this.checks
    }
  }

  answerOf(notReady: 200 | 503): FastAnswer {
    return {
      status: this.status === "up" ? 200 : notReady,
      headers: jsonHeaders,
      body: JSON.stringify(this.report)
    }
  }
}

const countsOf = (up: number, down: number, initialising: number): TenantCounts => ({
  up,
  down,
  "not initialised": initialising
})

const make = (targets: ReadonlyArray<TenantTarget>, tenantsSettings: TenantsSettings) =>
  Effect.gen(function*() {
    const settings = yield* ReadinessSettings
    const budget = settings.timeout
    const budgetMillis = Duration.toMillis(budget)
    const intervalMillis = Duration.toMillis(settings.interval)
    const serviceScope = yield* Effect.scope
    const tenants = new Map<string, TenantState>()
    const tally = { up: 0, down: 0, "not initialised": 0 }
    let counts = countsOf(0, 0, 0)
    const publishCounts = () => {
      counts = countsOf(tally.up, tally.down, tally["not initialised"])
    }

    const add = (target: TenantTarget) =>
      Effect.gen(function*() {
        const scope = yield* Scope.fork(serviceScope, ExecutionStrategy.sequential)
        const state = new TenantState(target, scope, yield* Clock.currentTimeMillis, settings.notReadyStatus)
        tenants.set(target.id, state)
        tally["not initialised"] += 1
      })

    // Removal never waits on the tenant: a hung check is interrupted in the background, and its resources are
    // released in the background (the live layers bound their own release).
    const remove = (state: TenantState) =>
      Effect.gen(function*() {
        state.removed = true
        tenants.delete(state.target.id)
        tally[state.status] -= 1
        for (const fiber of state.running.values()) yield* Fiber.interruptFork(fiber)
        yield* Effect.forkDaemon(Scope.close(state.scope, Exit.void))
      })

    const build = (state: TenantState, name: DependencyName): Effect.Effect<Effect.Effect<void, CheckFailure>> => {
      const ping: Effect.Effect<Effect.Effect<void, CheckFailure>, unknown> = name === "database"
        ? Effect.map(Layer.buildWithScope(state.target.database, state.scope), (c) => Context.get(c, Database).ping)
        : Effect.map(Layer.buildWithScope(state.target.redis, state.scope), (c) => Context.get(c, Redis).ping)
      return ping.pipe(
        Effect.catchAllCause((cause) => {
          const error = Cause.squash(cause)
          // Only the error's name and category: a driver's message may carry a connection URL.
          return Effect.logError(`tenant ${state.target.id}: ${name} could not be initialised; it is reported down`)
            .pipe(
              Effect.annotateLogs({
                tenant: state.target.id,
                error: error instanceof Error ? error.name : typeof error,
                reason: reasonOf(error)
              }),
              Effect.as<Effect.Effect<void, CheckFailure>>(
                name === "database" ? Database.NotInitialised.ping : Redis.NotInitialised.ping
              )
            )
        })
      )
    }

    const dependencyCheck = (state: TenantState, name: DependencyName): Effect.Effect<void, CheckFailure> =>
      Effect.suspend(() => {
        const ping = state.pings.get(name)
        if (ping !== undefined) return ping
        return Effect.flatMap(build(state, name), (built) => {
          state.pings.set(name, built)
          return built
        })
      })

    const stillRunning: CheckResult = { status: "down", latencyMs: budgetMillis, error: "timeout" }

    // Single flight per tenant and dependency: the check runs in a fiber of its own, awaited under the budget. One
    // that is still running (hung past its budget, a driver that ignores interruption) is not started again: the
    // dependency reads `timeout` until it ends. So a hung tenant costs one fiber, never one per round.
    const runDependency = (state: TenantState, name: DependencyName): Effect.Effect<CheckResult> =>
      Effect.gen(function*() {
        const previous = state.running.get(name)
        if (previous !== undefined && previous.unsafePoll() === null) return stillRunning
        const fiber = yield* Effect.forkDaemon(dependencyCheck(state, name))
        state.running.set(name, fiber)
        const result = yield* runCheck(`tenant ${state.target.id}: ${name}`, Fiber.join(fiber), budget)
        if (result.error === "timeout") yield* Fiber.interruptFork(fiber)
        return result
      })

    const record = (state: TenantState, observed: Record<DependencyName, CheckResult>, at: number) =>
      Effect.gen(function*() {
        const damped = (name: DependencyName) => {
          const next = damp(state.damping.get(name), observed[name], settings)
          state.damping.set(name, { reported: next.reported, streak: next.streak })
          return next.result
        }
        const checks = { database: damped("database"), redis: damped("redis") }
        const status: TenantStatus = checks.database.status === "up" && checks.redis.status === "up" ? "up" : "down"
        const before = state.status
        state.checks = checks
        state.checkedAt = at
        state.status = status
        state.report = state.encode()
        state.answer = state.answerOf(settings.notReadyStatus)
        if (before === status) return
        tally[before] -= 1
        tally[status] += 1
        publishCounts()
        // One line per change that matters to an operator: a tenant going down, and its recovery.
        if (status === "down") {
          const reasons = dependencyNames.flatMap((name) =>
            checks[name].status === "down" ? [`${name} ${checks[name].error ?? "unavailable"}`] : []
          )
          yield* Effect.logWarning(`tenant ${state.target.id} is down: ${reasons.join(", ")}`)
        } else if (before === "down") {
          yield* Effect.logInfo(`tenant ${state.target.id} is up`)
        }
      })

    const checkTenant = (state: TenantState) =>
      Effect.gen(function*() {
        if (state.removed) return
        const [database, redis] = yield* Effect.all(
          [runDependency(state, "database"), runDependency(state, "redis")],
          { concurrency: 2 }
        )
        // A tenant removed while its check ran is gone: its result changes nothing.
        if (state.removed) return
        yield* record(state, { database, redis }, yield* Clock.currentTimeMillis)
      })

    const firstRound = yield* Deferred.make<void>()
    const round = Effect.suspend(() =>
      Effect.forEach([...tenants.values()], checkTenant, {
        concurrency: tenantsSettings.concurrency,
        discard: true
      })
    ).pipe(Effect.ensuring(Deferred.succeed(firstRound, undefined)))

    // Single flight for rounds too: a refresh joins the round in flight.
    let inFlight: Fiber.RuntimeFiber<void> | undefined
    const refresh = Effect.suspend(() => {
      if (inFlight === undefined || inFlight.unsafePoll() !== null) {
        return Effect.flatMap(Effect.forkIn(round, serviceScope), (fiber) => {
          inFlight = fiber
          return Fiber.join(fiber)
        })
      }
      return Fiber.join(inFlight)
    })

    for (const target of targets) yield* add(target)
    publishCounts()

    yield* Effect.gen(function*() {
      const startedAt = yield* Clock.currentTimeMillis
      yield* refresh
      const elapsed = (yield* Clock.currentTimeMillis) - startedAt
      yield* Effect.sleep(Duration.millis(Math.max(0, intervalMillis - elapsed)))
    }).pipe(
      // A round cannot fail; should a bug break one anyway, the loop logs it and goes on.
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause) ? Effect.void : Effect.logError("tenant round failed", cause)
      ),
      Effect.forever,
      Effect.forkScoped
    )

    yield* Effect.addFinalizer(() =>
      Effect.forEach([...tenants.values()], (state) =>
        Effect.gen(function*() {
          state.removed = true
          for (const fiber of state.running.values()) yield* Fiber.interruptFork(fiber)
          yield* Scope.close(state.scope, Exit.void)
        }), { concurrency: "unbounded", discard: true })
    )

    const replace = (next: ReadonlyArray<TenantTarget>) =>
      Effect.gen(function*() {
        const wanted = new Map(next.map((target) => [target.id, target]))
        let removed = 0
        let added = 0
        for (const state of [...tenants.values()]) {
          if (wanted.get(state.target.id)?.key !== state.target.key) {
            yield* remove(state)
            removed += 1
          }
        }
        for (const target of next) {
          if (!tenants.has(target.id)) {
            yield* add(target)
            added += 1
          }
        }
        publishCounts()
        if (added + removed > 0) {
          yield* Effect.logInfo(`tenants reloaded: ${added} added, ${removed} removed, ${tenants.size} in all`)
        }
      })

    const serviceable = (judged: TenantCounts): FailureReason | undefined => {
      if (judged.up === 0) return "no serviceable tenant"
      if (tenantsSettings.policy === "all" && judged.down + judged["not initialised"] > 0) return "tenant unavailable"
      return undefined
    }

    // What the last run of the check judged, so the report's counts agree with its `tenants` check.
    let judged = counts
    const check: Check = {
      name: "tenants",
      // The first readiness round waits for the first tenant round (within its budget) rather than reading every
      // tenant `not initialised`; after that, the check only reads.
      ping: Effect.zipRight(
        Deferred.await(firstRound),
        Effect.suspend(() => {
          judged = counts
          const reason = serviceable(judged)
          return reason === undefined ? Effect.void : Effect.fail(new TenantsUnavailable({ reason }))
        })
      ),
      counts: () => judged as unknown as Readonly<Record<string, number>>
    }

    return {
      settings: tenantsSettings,
      counts: () => counts,
      size: () => tenants.size,
      answer: (id: string) => tenants.get(id)?.answer,
      reports: () => Array.from(tenants.values(), (state) => state.report),
      refresh,
      replace,
      check
    } satisfies TenantsService
  })

export class Tenants extends Context.Tag("dashboard/Tenants")<Tenants, TenantsService>() {
  /**
   * Tenants from targets built in-process: the live ones (see `TenantsLive`) or any `Database`/`Redis` layers, such
   * as the chaos ones (`TenantTarget.make("t1", { database: Database.Hanging, redis: Redis.Test })`).
   */
  static readonly layerFromTargets = (
    targets: ReadonlyArray<TenantTarget>,
    settings: Partial<TenantsSettings> = {}
  ): Layer.Layer<Tenants, never, ReadinessSettings> =>
    Layer.scoped(Tenants, make(targets, { ...defaultTenantsSettings, ...settings }))

  /** The `tenants` check, for `Readiness.layer([...])`. */
  static readonly dependency: Effect.Effect<Check, never, Tenants> = Effect.map(Tenants, (tenants) => tenants.check)
}
