// What the service answers before anything but its listener is loaded: the probe paths, liveness, and readiness
// failing closed. Kept free of Schema and the HTTP platform so that the process listens within milliseconds.
import type { FastAnswer, FastRoute } from "./Listener.js"

export const healthzPath = "/healthz"
export const livezPath = "/livez"
export const readyzPath = "/readyz"

export const jsonHeaders = { "content-type": "application/json", "cache-control": "no-store" } as const

export const healthBody = "{\"status\":\"ok\"}"

export const healthAnswer: FastAnswer = { status: 200, headers: jsonHeaders, body: healthBody }

/**
 * Liveness, and a readiness report with no check yet: `not ready` until the app has loaded and its readiness
 * takes over (its first report reads every check `not initialised` until the first round).
 */
export const bootRoutes = (notReadyStatus: 200 | 503, now: () => number): ReadonlyMap<string, FastRoute> =>
  new Map<string, FastRoute>([
    [healthzPath, () => healthAnswer],
    [livezPath, () => healthAnswer],
    [readyzPath, () => ({
      status: notReadyStatus,
      headers: jsonHeaders,
      body: `{"status":"not ready","checkedAt":"${new Date(now()).toISOString()}","checks":{},"ageMs":0}`
    })]
  ])
