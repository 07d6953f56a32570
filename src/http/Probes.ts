// The probes: what each answers, encoded here once so the Node fast path and the Effect handlers answer byte for
// byte alike, and the fast routes that serve them from the readiness snapshot (no probe ever reaches a dependency).
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { type CheckResult, Readiness, ReadinessSettings, type Snapshot } from "../Readiness.js"
import { Tenants, type TenantsService } from "../Tenants.js"
import type { ReadinessReport, TenantCounts } from "./Api.js"
import { healthAnswer, healthBody, healthzPath, jsonHeaders, livezPath, readyzPath } from "./Liveness.js"
import { type FastAnswer, type FastRoute, FastRoutes } from "./Server.js"
import { statusTokenOf, unauthorizedAnswer } from "./StatusToken.js"

const healthJsonHeaders = { "content-type": "application/health+json", "cache-control": "no-store" } as const
const textHeaders = { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" } as const

export { healthBody, jsonHeaders }

// Everything but the age is fixed for a snapshot, so it is encoded once per snapshot, not once per probe.
const encodedPrefixes = new WeakMap<Snapshot, string>()

const encodeReport = (
  status: Snapshot["status"],
  checkedAt: number,
  checks: Snapshot["checks"],
  ageMs: number,
  counts: Snapshot["counts"]
) =>
  JSON.stringify(
    {
      status,
      checkedAt: new Date(checkedAt).toISOString(),
      checks,
      ...(counts?.tenants === undefined ? {} : { tenants: counts.tenants as typeof TenantCounts.Encoded }),
      ageMs
    } satisfies typeof ReadinessReport.Encoded
  )

export const readinessBody = (snapshot: Snapshot, nowMillis: number): string => {
  let prefix = encodedPrefixes.get(snapshot)
  if (prefix === undefined) {
    const json = encodeReport(snapshot.status, snapshot.checkedAt, snapshot.checks, 0, snapshot.counts)
    prefix = json.slice(0, json.lastIndexOf("0}"))
    encodedPrefixes.set(snapshot, prefix)
  }
  return `${prefix}${Math.max(0, nowMillis - snapshot.checkedAt)}}`
}

/** What a readiness probe asked for: which checks count, and in which form. */
export interface ReadinessQuery {
  /** Only this check (`/readyz/<name>`), or every check. */
  readonly only?: string
  /** Checks left out (`?exclude=name`, repeatable; unknown names are ignored, as Kubernetes does). */
  readonly exclude: ReadonlyArray<string>
  /** `?verbose`: the Kubernetes plain-text form. */
  readonly verbose: boolean
  /** `Accept: application/health+json`: the IETF health check response format. */
  readonly healthJson: boolean
}

const plainQuery: ReadinessQuery = { exclude: [], verbose: false, healthJson: false }

const acceptsHealthJson = (accept: string | undefined): boolean =>
  accept !== undefined && /health\+json/i.test(accept) &&
  accept.split(",").some((range) => {
    const [type, ...parameters] = range.split(";").map((part) => part.trim().toLowerCase())
    return type === "application/health+json" && !parameters.some((p) => /^q=0(\.0*)?$/.test(p))
  })

export const readinessQuery = (
  request: { readonly query: string; readonly accept: string | undefined },
  only?: string
): ReadinessQuery => {
  const healthJson = acceptsHealthJson(request.accept)
  if (request.query === "" && only === undefined && !healthJson) return plainQuery
  const params = new URLSearchParams(request.query)
  return {
    ...(only === undefined ? {} : { only }),
    exclude: params.getAll("exclude"),
    verbose: params.has("verbose"),
    healthJson
  }
}

const componentType = (name: string) => name === "database" || name === "redis" ? "datastore" : "component"

/** The answer to a readiness probe, from a snapshot: the status code says ready or not in the 503 mode. */
export const readinessAnswer = (
  snapshot: Snapshot,
  query: ReadinessQuery,
  nowMillis: number,
  notReadyStatus: 200 | 503
): FastAnswer => {
  if (query === plainQuery) {
    return {
      status: snapshot.status === "ready" ? 200 : notReadyStatus,
      headers: jsonHeaders,
      body: readinessBody(snapshot, nowMillis)
    }
  }
  const included = Object.entries(snapshot.checks).filter(([name]) =>
    query.only === undefined ? !query.exclude.includes(name) : name === query.only
  )
  const ready = included.every(([, result]) => result.status === "up")
  const status = ready ? 200 : notReadyStatus
  if (query.verbose) {
    const lines = Object.entries(snapshot.checks).flatMap(([name, result]): Array<string> => {
      if (query.only !== undefined && name !== query.only) return []
      if (query.exclude.includes(name) && query.only === undefined) return [`[+]${name} excluded: ok`]
      return [result.status === "up" ? `[+]${name} ok` : `[-]${name} failed: ${result.error ?? "unavailable"}`]
    })
    lines.push(`readyz check ${ready ? "passed" : "failed"}`)
    return { status, headers: textHeaders, body: `${lines.join("\n")}\n` }
  }
  if (query.healthJson) {
    const time = new Date(snapshot.checkedAt).toISOString()
    const component = ([name, result]: [string, CheckResult]) =>
      [`${name}:responseTime`, [{
        componentType: componentType(name),
        observedValue: result.latencyMs,
        observedUnit: "ms",
        status: result.status === "up" ? "pass" : "fail",
        time,
        ...(result.error === undefined ? {} : { output: result.error })
      }]] as const
    return {
      status,
      headers: healthJsonHeaders,
      body: JSON.stringify({
        status: ready ? "pass" : "fail",
        description: "dashboard readiness",
        checks: Object.fromEntries(included.map(component))
      })
    }
  }
  return {
    status,
    headers: jsonHeaders,
    body: encodeReport(
      ready ? "ready" : "not ready",
      snapshot.checkedAt,
      Object.fromEntries(included),
      Math.max(0, nowMillis - snapshot.checkedAt),
      included.some(([name]) => name === "tenants") ? snapshot.counts : undefined
    )
  }
}

/** The prefix of one tenant's readiness: `GET /readyz/tenants/<id>`. */
export const tenantPathPrefix = `${readyzPath}/tenants/`

export const unknownTenantAnswer: FastAnswer = {
  status: 404,
  headers: jsonHeaders,
  body: "{\"error\":\"unknown tenant\"}"
}

/**
 * One tenant's readiness, read from the answer its last check left (encoded once per change). The token is checked
 * before the id is looked up, and a known and an unknown id take the same path (one Map lookup, a ready answer), so
 * neither the status nor the answer time tells whether an id exists to a client without the token.
 */
export const tenantRoute = (
  tenants: Pick<TenantsService, "answer">,
  authorized: (authorization: string | undefined) => boolean
): FastRoute =>
(request) => {
  if (!authorized(request.header("authorization"))) return unauthorizedAnswer
  return tenants.answer(request.path.slice(tenantPathPrefix.length)) ?? unknownTenantAnswer
}

/** The probes as fast routes: liveness touches nothing; readiness, whole or per check, reads the snapshot. */
export const ProbeRoutesLive = Layer.effect(
  FastRoutes,
  Effect.gen(function*() {
    const readiness = yield* Readiness
    const settings = yield* ReadinessSettings
    const clock = yield* Effect.clock
    const readinessRoute = (only?: string): FastRoute => (request) => {
      const query = readinessQuery({ query: request.query, accept: request.header("accept") }, only)
      const answer = (snapshot: Snapshot) =>
        readinessAnswer(snapshot, query, clock.unsafeCurrentTimeMillis(), settings.notReadyStatus)
      const snapshot = readiness.unsafeFresh(clock.unsafeCurrentTimeMillis())
      // Overdue: every probe waits on the same round, bounded by the check budget.
      return snapshot === undefined ? readiness.unsafeRefresh().then(answer) : answer(snapshot)
    }
    const tenants = yield* Effect.serviceOption(Tenants)
    const token = yield* statusTokenOf
    return new Map<string, FastRoute>([
      [healthzPath, () => healthAnswer],
      [livezPath, () => healthAnswer],
      [readyzPath, readinessRoute()],
      ...readiness.names.map((name) => [`${readyzPath}/${name}`, readinessRoute(name)] as const),
      ...Option.match(tenants, {
        onNone: () => [],
        onSome: (tenants) => [[`${tenantPathPrefix}*`, tenantRoute(tenants, token.authorized)] as const]
      })
    ])
  })
)
