// The probe bodies, encoded once here so the Node fast path and the Effect handlers answer byte for byte alike.
import type { Snapshot } from "../Readiness.js"
import type { Health, ReadinessReport } from "./Api.js"

export const healthzPath = "/healthz"
export const readyzPath = "/readyz"

/** A request URL without its query string. */
export const pathOf = (url: string | undefined): string => {
  if (url === undefined) return ""
  const query = url.indexOf("?")
  return query === -1 ? url : url.slice(0, query)
}

export const healthBody = JSON.stringify({ status: "ok" } satisfies typeof Health.Encoded)

// Everything but the age is fixed for a snapshot, so it is encoded once per snapshot, not once per probe.
const encodedPrefixes = new WeakMap<Snapshot, string>()

export const readinessBody = (snapshot: Snapshot, nowMillis: number): string => {
  let prefix = encodedPrefixes.get(snapshot)
  if (prefix === undefined) {
    const report: Omit<typeof ReadinessReport.Encoded, "ageMs"> = {
      status: snapshot.status,
      checkedAt: new Date(snapshot.checkedAt).toISOString(),
      checks: snapshot.checks
    }
    const json = JSON.stringify(report)
    prefix = `${json.slice(0, -1)},"ageMs":`
    encodedPrefixes.set(snapshot, prefix)
  }
  return `${prefix}${Math.max(0, nowMillis - snapshot.checkedAt)}}`
}
