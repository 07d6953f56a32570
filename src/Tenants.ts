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
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import type { FastAnswer } from "./http/Listener.js"
import { jsonHeaders } from "./http/Liveness.js"
import { Database } from "./layers/Database.js"
import { type Check, type CheckFailure, type FailureReason, reasonOf } from "./layers/Dependency.js"
import { Redis } from "./layers/Redis.js"
import { CheckResult, damp, defectResult, latencyMsBetween, ReadinessSettings, resultOfFailure } from "./Readiness.js"

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
  /** Tenants being checked at once (each its database and Redis together); a hung check gives its slot back at its budget. */
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

/** Tenants a round admits per turn of the event loop (see `admit`). */
export const admissionsPerTurn = 32
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
  /** How to interrupt each dependency's check that is still running, possibly past its budget. */
  readonly running = new Map<DependencyName, () => void>()
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
    // The first readiness round waits for the tenants' verdict: until the policy's answer can no longer change (a tenant
    // up under `any`, a tenant down under `all`) or the first tenant round has ended, whichever comes first.
    const firstVerdict = yield* Deferred.make<void>()
    const publishCounts = () => {
      counts = countsOf(tally.up, tally.down, tally["not initialised"])
      if (tally.up > 0 && tenantsSettings.policy === "any" || tally.down > 0 && tenantsSettings.policy === "all") {
        Deferred.unsafeDone(firstVerdict, Exit.void)
      }
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
        for (const interrupt of state.running.values()) interrupt()
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

    const timedOut: CheckResult = { status: "down", latencyMs: budgetMillis, error: "timeout" }

    // A round checks every tenant with two fibers per tenant (one per dependency) and one timer for the whole round.
    // The straightforward shape (a fiber per tenant, `runCheck`'s race per dependency, joins) made ~11 fibers per
    // tenant per round: at 1,000 tenants the service allocated 270 MB/s and its heap grew past 200 MB (bench tenant
    // run). So a round admits tenants through a window of `concurrency`, each dependency check is forked on the
    // service's runtime and reports through its exit callback, and one sweeper times out whatever is still running at
    // its tenant's budget: admissions happen in order under one budget, so their deadlines are in order too.
    const runtime = yield* Effect.runtime<never>()
    const clock = yield* Effect.clock
    const runCallback = Runtime.runCallback(runtime)
    const runFork = Runtime.runFork(runtime)

    const record = (state: TenantState, observed: Record<DependencyName, CheckResult>, at: number) => {
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
        runFork(Effect.logWarning(`tenant ${state.target.id} is down: ${reasons.join(", ")}`))
      } else if (before === "down") {
        runFork(Effect.logInfo(`tenant ${state.target.id} is up`))
      }
    }

    interface Admission {
      readonly state: TenantState
      readonly startedAt: bigint
      readonly deadline: number
      readonly results: Partial<Record<DependencyName, CheckResult>>
      /** The checks this admission started that are still running, and how to interrupt them. */
      readonly running: Map<DependencyName, () => void>
      /** Checks still running, plus one while the admission is still starting them. */
      pending: number
      settled: boolean
    }

    const runRound = (states: ReadonlyArray<TenantState>) =>
      Effect.suspend(() => {
        const inFlight: Array<Admission> = []
        let head = 0
        let next = 0
        let running = 0
        let unsettled = states.length
        let admitting = false
        let completed: (() => void) | undefined
        let wakeSweeper: (() => void) | undefined

        const settle = (admission: Admission) => {
          admission.settled = true
          running -= 1
          unsettled -= 1
          const { state } = admission
          // A tenant removed while its check ran is gone: its result changes nothing.
          if (!state.removed) {
            record(state, {
              database: admission.results.database ?? timedOut,
              redis: admission.results.redis ?? timedOut
            }, clock.unsafeCurrentTimeMillis())
          }
          admit()
        }

        const startDependency = (admission: Admission, name: DependencyName) => {
          const { state } = admission
          // Single flight per tenant and dependency: a check still running past its budget (a driver that ignores
          // interruption) is not started again; the dependency reads `timeout` until it ends. So a hung tenant costs
          // one fiber, never one per round.
          if (state.running.has(name)) {
            admission.results[name] = timedOut
            return
          }
          admission.pending += 1
          let finished = false
          const interrupt = runCallback(dependencyCheck(state, name), {
            onExit: (exit) => {
              finished = true
              state.running.delete(name)
              admission.running.delete(name)
              if (admission.settled) return
              // A check interrupted because its tenant was removed (or the service is closing) reports nothing.
              if (!state.removed) {
                const latencyMs = latencyMsBetween(admission.startedAt, clock.unsafeCurrentTimeNanos())
                if (Exit.isSuccess(exit)) {
                  admission.results[name] = { status: "up", latencyMs }
                } else {
                  const result = resultOfFailure(exit.cause, latencyMs)
                  if (result !== undefined) admission.results[name] = result
                  else {
                    admission.results[name] = { status: "down", latencyMs, error: "internal error" }
                    runFork(defectResult(`tenant ${state.target.id}: ${name}`, exit.cause, latencyMs))
                  }
                }
              }
              admission.pending -= 1
              if (admission.pending === 0) settle(admission)
            }
          })
          // A check that finished synchronously has already reported.
          if (!finished) {
            state.running.set(name, interrupt)
            admission.running.set(name, interrupt)
          }
        }

        // A round of a thousand tenants whose checks answer at once would hold the event loop for tens of ms, and a
        // probe waiting behind it would pay for them: so a round admits at most `admissionsPerTurn` tenants per turn of
        // the event loop, and goes on in the next.
        let admittedThisTurn = 0
        let nextTurn: ReturnType<typeof setImmediate> | undefined
        const admit = () => {
          if (admitting || nextTurn !== undefined) return
          admitting = true
          while (running < tenantsSettings.concurrency && next < states.length) {
            if (admittedThisTurn === admissionsPerTurn) {
              nextTurn = setImmediate(() => {
                nextTurn = undefined
                admittedThisTurn = 0
                admit()
              })
              break
            }
            const state = states[next++]!
            if (state.removed) {
              unsettled -= 1
              continue
            }
            running += 1
            admittedThisTurn += 1
            const admission: Admission = {
              state,
              startedAt: clock.unsafeCurrentTimeNanos(),
              deadline: clock.unsafeCurrentTimeMillis() + budgetMillis,
              results: {},
              running: new Map(),
              pending: 1,
              settled: false
            }
            inFlight.push(admission)
            if (wakeSweeper !== undefined) {
              const wake = wakeSweeper
              wakeSweeper = undefined
              wake()
            }
            for (const name of dependencyNames) startDependency(admission, name)
            admission.pending -= 1
            if (admission.pending === 0) settle(admission)
          }
          admitting = false
          if (unsettled === 0) completed?.()
        }

        // Times out, at its deadline, each admission still running; one sleep covers every admission up to then.
        const sweep = Effect.gen(function*() {
          while (true) {
            while (head < inFlight.length && inFlight[head]!.settled) head += 1
            const first = inFlight[head]
            if (first === undefined) {
              if (unsettled === 0) return
              // Everything admitted so far has settled, and more is to come in a later turn: wait for it.
              yield* Effect.async<void>((resume) => {
                if (head < inFlight.length) resume(Effect.void)
                else wakeSweeper = () => resume(Effect.void)
              })
              continue
            }
            const wait = first.deadline - clock.unsafeCurrentTimeMillis()
            if (wait > 0) {
              yield* Effect.sleep(Duration.millis(wait))
              continue
            }
            for (const interrupt of first.running.values()) interrupt()
            settle(first)
          }
        })

        admit()
        if (unsettled === 0) return Effect.void
        // The sweeper is this round's child: it is interrupted when the round ends, however it ends.
        return Effect.zipRight(
          Effect.fork(sweep),
          Effect.async<void>((resume) => {
            completed = () => resume(Effect.void)
            if (unsettled === 0) resume(Effect.void)
            // Interrupted (the service closing): admit no more.
            return Effect.sync(() => {
              clearImmediate(nextTurn)
              next = states.length
            })
          })
        )
      })

    const round = Effect.suspend(() => runRound([...tenants.values()])).pipe(
      Effect.ensuring(Deferred.succeed(firstVerdict, undefined))
    )

    // Single flight for rounds too: a refresh joins the round in flight, unless tenants were added since it began
    // (it does not check them); then it waits for that round to end and runs one that does.
    let inFlight: { readonly fiber: Fiber.RuntimeFiber<void>; readonly generation: number } | undefined
    let generation = 0
    const refresh: Effect.Effect<void> = Effect.suspend(() => {
      const current = inFlight
      if (current === undefined || current.fiber.unsafePoll() !== null) {
        const started = generation
        return Effect.flatMap(Effect.forkIn(round, serviceScope), (fiber) => {
          inFlight = { fiber, generation: started }
          return Fiber.join(fiber)
        })
      }
      if (current.generation === generation) return Fiber.join(current.fiber)
      return Effect.zipRight(Fiber.await(current.fiber), refresh)
    })

    for (const target of targets) yield* add(target)
    publishCounts()

    yield* Effect.gen(function*() {
      const startedAt = yield* Clock.currentTimeMillis
      yield* refresh
      const elapsed = (yield* Clock.currentTimeMillis) - startedAt
      yield* Effect.sleep(Duration.millis(Math.max(0, intervalMillis - elapsed)))
    }).pipe(
      // A round cannot fail; should a bug break one anyway, the loop logs it and goes on. A round interrupted is the
      // service closing: the loop ends with it rather than start rounds the closing scope interrupts at once.
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause) ? Effect.interrupt : Effect.logError("tenant round failed", cause)
      ),
      Effect.forever,
      Effect.forkScoped
    )

    yield* Effect.addFinalizer(() =>
      Effect.forEach([...tenants.values()], (state) =>
        Effect.gen(function*() {
          state.removed = true
          for (const interrupt of state.running.values()) interrupt()
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
            generation += 1
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
      // The first readiness round waits for the tenants' first verdict (within its budget) rather than reading every
      // tenant `not initialised`; after that, the check only reads.
      ping: Effect.zipRight(
        Deferred.await(firstVerdict),
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
