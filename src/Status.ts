// The SLA report: how available the service and each dependency were over the last hour, the last day and since
// start, their last state changes and recent check latency, kept in a fixed amount of memory whatever the uptime
// (per-minute aggregates and the last changes, never every round).
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { failureReasons } from "./layers/Dependency.js"
import { Readiness, ReadinessStatus, type Round } from "./Readiness.js"
import { TenantReport, Tenants } from "./Tenants.js"

const Reason = Schema.Literal(...failureReasons)

export const Window = Schema.Struct({
  /** The fraction of the observed time the state was up (ready), or null when nothing was observed yet. */
  availability: Schema.NullOr(Schema.Number),
  observedSeconds: Schema.Number
})

export const Windows = Schema.Struct({ lastHour: Window, lastDay: Window, sinceStart: Window })

export const DependencyChange = Schema.Struct({
  at: Schema.String,
  status: Schema.Literal("up", "down"),
  error: Schema.optional(Reason)
})

export const ServiceChange = Schema.Struct({ at: Schema.String, status: ReadinessStatus })

/** Fifteen minutes of one dependency's last day, for the status page's uptime bar. */
export const UptimeSegment = Schema.Struct({
  /** When the fifteen minutes begin (ISO 8601). */
  start: Schema.String,
  /** The fraction of the observed time it was up, or null when nothing was observed in them. */
  availability: Schema.NullOr(Schema.Number),
  observedSeconds: Schema.Number
})

/** The check latency percentiles of one ten-second bucket, for the status page's latency chart. */
export const LatencyPoint = Schema.Struct({
  /** When the bucket begins (ISO 8601). */
  at: Schema.String,
  p50: Schema.NullOr(Schema.Number),
  p99: Schema.NullOr(Schema.Number),
  samples: Schema.Number
})

export const DependencyReport = Schema.Struct({
  status: Schema.Literal("up", "down"),
  error: Schema.optional(Reason),
  /** When the current state began (or when it was first observed). */
  since: Schema.String,
  windows: Windows,
  /** Percentiles of the check latency over the last five minutes; null without a sample. */
  latencyMs: Schema.Struct({
    p50: Schema.NullOr(Schema.Number),
    p99: Schema.NullOr(Schema.Number),
    samples: Schema.Number
  }),
  /** The last state changes, newest first. */
  changes: Schema.Array(DependencyChange),
  /** The last day in fifteen-minute segments, oldest first; the last one is the segment now falls in. */
  uptime: Schema.Array(UptimeSegment),
  /** The last five minutes of check latency in ten-second buckets, oldest first; the last one is still filling. */
  latencySeries: Schema.Array(LatencyPoint)
})

export const StatusReport = Schema.Struct({
  status: ReadinessStatus,
  since: Schema.String,
  /** When the report's latest round finished, or null before the first one. */
  checkedAt: Schema.NullOr(Schema.String),
  windows: Windows,
  changes: Schema.Array(ServiceChange),
  dependencies: Schema.Record({ key: Schema.String, value: DependencyReport }),
  /** With TENANTS_FILE: every tenant's latest checks, in the file's order. */
  tenants: Schema.optional(Schema.Array(TenantReport))
})
export type StatusReport = typeof StatusReport.Type

const minuteMillis = 60_000
/** Per-minute aggregates kept: one day. */
export const minutesKept = 1440
/** State changes kept per dependency and for the service. */
export const changesKept = 50
/** Latency samples kept per dependency: five minutes of rounds at one a second fit with room to spare. */
export const latencySamplesKept = 1024
export const latencyWindowMillis = 5 * minuteMillis
/** The uptime bar: the last day in segments of a quarter of an hour, built from the per-minute ring. */
export const segmentMinutes = 15
export const segmentsKept = minutesKept / segmentMinutes
export const latencyBucketMillis = 10_000

const iso = (millis: number) => new Date(millis).toISOString()

/**
 * Observed and up time, in total and per minute over the last day. Each slot of the ring holds the minute it
 * counts, so a slot left over from an earlier day is recognised as stale and reused.
 */
export class Availability {
  observedMillis = 0
  upMillis = 0
  readonly minutes = new Float64Array(minutesKept).fill(-1)
  readonly observed = new Float64Array(minutesKept)
  readonly up = new Float64Array(minutesKept)

  /** Credits the time from `from` to `to` (epoch milliseconds), split on minute boundaries. */
  add(from: number, to: number, up: boolean): void {
    if (to <= from) return
    this.observedMillis += to - from
    if (up) this.upMillis += to - from
    // Only the last day reaches the ring, however long the gap.
    let start = Math.max(from, to - minutesKept * minuteMillis)
    while (start < to) {
      const minute = Math.floor(start / minuteMillis)
      const end = Math.min(to, (minute + 1) * minuteMillis)
      const slot = minute % minutesKept
      if (this.minutes[slot] !== minute) {
        this.minutes[slot] = minute
        this.observed[slot] = 0
        this.up[slot] = 0
      }
      this.observed[slot] = this.observed[slot]! + (end - start)
      if (up) this.up[slot] = this.up[slot]! + (end - start)
      start = end
    }
  }

  /** The last `minutes` whole minutes up to `end`, the one `end` falls in included (unless `end` starts it). */
  window(end: number, minutes: number): typeof Window.Type {
    const last = Math.ceil(end / minuteMillis) - 1
    let observed = 0
    let up = 0
    for (let minute = last - minutes + 1; minute <= last; minute++) {
      const slot = ((minute % minutesKept) + minutesKept) % minutesKept
      if (this.minutes[slot] !== minute) continue
      observed += this.observed[slot]!
      up += this.up[slot]!
    }
    return ratio(observed, up)
  }

  sinceStart(): typeof Window.Type {
    return ratio(this.observedMillis, this.upMillis)
  }

  /**
   * The last `segmentsKept` quarters of an hour, oldest first, aligned on the quarter: the last is the one the
   * minute `end` falls in (as in `window`), so the segments span at most the day the ring holds.
   */
  segments(end: number): Array<typeof UptimeSegment.Type> {
    const lastSegment = Math.floor((Math.ceil(end / minuteMillis) - 1) / segmentMinutes)
    const segments: Array<typeof UptimeSegment.Type> = []
    for (let segment = lastSegment - segmentsKept + 1; segment <= lastSegment; segment++) {
      let observed = 0
      let up = 0
      for (let minute = segment * segmentMinutes; minute < (segment + 1) * segmentMinutes; minute++) {
        const slot = ((minute % minutesKept) + minutesKept) % minutesKept
        if (this.minutes[slot] !== minute) continue
        observed += this.observed[slot]!
        up += this.up[slot]!
      }
      segments.push({ start: iso(segment * segmentMinutes * minuteMillis), ...ratio(observed, up) })
    }
    return segments
  }

  windows(now: number): typeof Windows.Type {
    return { lastHour: this.window(now, 60), lastDay: this.window(now, minutesKept), sinceStart: this.sinceStart() }
  }
}

const ratio = (observedMillis: number, upMillis: number): typeof Window.Type => ({
  availability: observedMillis === 0 ? null : upMillis / observedMillis,
  observedSeconds: observedMillis / 1000
})

/** The latest check latencies with when they were taken, in a ring. */
export class Latencies {
  readonly values = new Float64Array(latencySamplesKept)
  readonly times = new Float64Array(latencySamplesKept)
  size = 0
  next = 0

  add(at: number, latencyMs: number): void {
    this.values[this.next] = latencyMs
    this.times[this.next] = at
    this.next = (this.next + 1) % latencySamplesKept
    this.size = Math.min(this.size + 1, latencySamplesKept)
  }

  /** Nearest-rank p50 and p99 of the samples taken in the five minutes up to `now`. */
  percentiles(now: number): typeof DependencyReport.Type["latencyMs"] {
    const recent: Array<number> = []
    for (let i = 0; i < this.size; i++) {
      if (this.times[i]! > now - latencyWindowMillis) recent.push(this.values[i]!)
    }
    recent.sort((a, b) => a - b)
    return nearestRanks(recent)
  }

  /**
   * p50 and p99 per ten-second bucket over the five minutes up to `now`, oldest first, aligned on the bucket so a
   * sample stays in the same bucket from one report to the next; the last bucket is the one `now` falls in.
   */
  series(now: number): Array<typeof LatencyPoint.Type> {
    const buckets = latencyWindowMillis / latencyBucketMillis
    const first = Math.floor(now / latencyBucketMillis) - buckets + 1
    const samples: Array<Array<number>> = Array.from({ length: buckets }, () => [])
    for (let i = 0; i < this.size; i++) {
      const bucket = Math.floor(this.times[i]! / latencyBucketMillis) - first
      if (bucket >= 0 && bucket < buckets) samples[bucket]!.push(this.values[i]!)
    }
    return samples.map((values, i) => ({
      at: iso((first + i) * latencyBucketMillis),
      ...nearestRanks(values.sort((a, b) => a - b))
    }))
  }
}

/** Nearest-rank p50 and p99 of sorted values. */
const nearestRanks = (sorted: ReadonlyArray<number>) => {
  const rank = (q: number) => sorted.length === 0 ? null : sorted[Math.ceil(q * sorted.length) - 1]!
  return { p50: rank(0.5), p99: rank(0.99), samples: sorted.length }
}

interface Change<S> {
  readonly at: number
  readonly status: S
  readonly error?: typeof Reason.Type
}

/** One thing whose state is tracked: the service or a dependency. */
class Series<S extends string> {
  readonly availability = new Availability()
  readonly changes: Array<Change<S>> = []
  status: S
  error: typeof Reason.Type | undefined
  since: number

  constructor(at: number, status: S, error: typeof Reason.Type | undefined, readonly upStatus: S) {
    this.status = status
    this.error = error
    this.since = at
  }

  /** The state a round reported at `at`: the time since `previousAt` is credited to the state held until now. */
  observe(previousAt: number, at: number, status: S, error: typeof Reason.Type | undefined): void {
    this.availability.add(previousAt, at, this.status === this.upStatus)
    if (status !== this.status) {
      this.since = at
      this.changes.unshift(error === undefined ? { at, status } : { at, status, error })
      if (this.changes.length > changesKept) this.changes.pop()
    }
    this.status = status
    this.error = error
  }
}

const changesOf = <S>(changes: ReadonlyArray<Change<S>>) =>
  changes.map((change) => ({
    at: iso(change.at),
    status: change.status,
    ...(change.error === undefined ? {} : { error: change.error })
  }))

/** The history of every round folded in, in bounded memory. */
export class History {
  private service: Series<typeof ReadinessStatus.Type> | undefined
  private readonly dependencies = new Map<
    string,
    { readonly series: Series<"up" | "down">; readonly latencies: Latencies }
  >()
  private lastAt: number | undefined

  constructor(readonly startedAt: number) {}

  record(round: Round): void {
    const at = round.finishedAt
    const previousAt = this.lastAt ?? at
    // The report follows the reported state (flap damping included); a reason shows only while down.
    for (const [name, reported] of Object.entries(round.reported.checks)) {
      const error = reported.status === "down" ? reported.error : undefined
      const entry = this.dependencies.get(name)
      if (entry === undefined) {
        const series = new Series<"up" | "down">(at, reported.status, error, "up")
        this.dependencies.set(name, { series, latencies: new Latencies() })
      } else {
        entry.series.observe(previousAt, at, reported.status, error)
      }
    }
    for (const [name, result] of Object.entries(round.results)) {
      this.dependencies.get(name)?.latencies.add(at, result.latencyMs)
    }
    if (this.service === undefined) this.service = new Series(at, round.reported.status, undefined, "ready")
    else this.service.observe(previousAt, at, round.reported.status, undefined)
    this.lastAt = Math.max(at, previousAt)
  }

  report(now: number): StatusReport {
    const service = this.service
    const empty = { availability: null, observedSeconds: 0 }
    return {
      status: service?.status ?? "not ready",
      since: iso(service?.since ?? this.startedAt),
      checkedAt: this.lastAt === undefined ? null : iso(this.lastAt),
      windows: service?.availability.windows(now) ?? { lastHour: empty, lastDay: empty, sinceStart: empty },
      changes: changesOf(service?.changes ?? []),
      dependencies: Object.fromEntries(
        [...this.dependencies].map(([name, { latencies, series }]) => [name, {
          status: series.status,
          ...(series.error === undefined ? {} : { error: series.error }),
          since: iso(series.since),
          windows: series.availability.windows(now),
          latencyMs: latencies.percentiles(now),
          changes: changesOf(series.changes),
          uptime: series.availability.segments(now),
          latencySeries: latencies.series(now)
        }])
      )
    }
  }
}

export class Status extends Context.Tag("dashboard/Status")<Status, {
  /** The SLA report as of now. */
  readonly report: Effect.Effect<StatusReport>
}>() {
  /** The history of this app's rounds, folded in as they finish for as long as the layer lives. */
  static readonly layer: Layer.Layer<Status, never, Readiness> = Layer.scoped(
    Status,
    Effect.gen(function*() {
      const readiness = yield* Readiness
      const clock = yield* Effect.clock
      const history = new History(clock.unsafeCurrentTimeMillis())
      yield* readiness.rounds.pipe(
        Stream.runForEach((round) => Effect.sync(() => history.record(round))),
        Effect.forkScoped
      )
      const tenants = yield* Effect.serviceOption(Tenants)
      return {
        report: Effect.sync(() => {
          const report = history.report(clock.unsafeCurrentTimeMillis())
          return Option.isNone(tenants) ? report : { ...report, tenants: tenants.value.reports() }
        })
      }
    })
  )
}
