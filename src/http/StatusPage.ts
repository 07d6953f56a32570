// The status page: `GET /status` answers its HTML to a browser (content negotiation on `Accept`), and its script,
// styles and badge are fast routes. The page is a static shell; its script polls `GET /status` for the JSON report
// and draws it, so everything it shows comes from the same report, which carries no host, URL or driver message.
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Readiness, type Snapshot } from "../Readiness.js"
import { type FastAnswer, type FastRoute, FastRoutes } from "./Server.js"
import { badge, badgeState } from "./StatusBadge.js"
import { script } from "./StatusPageScript.js"
import { styles } from "./StatusPageStyles.js"

export const scriptPath = "/status/app.js"
export const stylesPath = "/status/app.css"
export const badgePath = "/status/badge.svg"

/** Nothing but the service's own script, styles and fetches; the favicon is a `data:` URL. */
export const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

const securityHeaders = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer"
} as const

export const pageHeaders = {
  ...securityHeaders,
  "content-security-policy": contentSecurityPolicy,
  "cache-control": "no-store",
  vary: "accept"
} as const

/**
 * The quality `accept` gives to `type`: that of the most specific range that matches it (`text/html`, then
 * `text/*`, then `* /*`), 0 when none does.
 */
const quality = (ranges: ReadonlyArray<{ readonly range: string; readonly q: number }>, type: string): number => {
  const family = `${type.slice(0, type.indexOf("/"))}/*`
  let best = { specificity: 0, q: 0 }
  for (const { q, range } of ranges) {
    const specificity = range === type ? 3 : range === family ? 2 : range === "*/*" ? 1 : 0
    if (specificity > best.specificity) best = { specificity, q }
  }
  return best.q
}

/**
 * Whether a client asks for the page rather than the report: only when it rates HTML strictly above JSON, as a
 * browser's navigation does (`text/html,...,*\/*;q=0.8`). No `Accept`, `*\/*` and `application/json` get JSON.
 */
export const prefersHtml = (accept: string | undefined): boolean => {
  if (accept === undefined || accept === "") return false
  const ranges = accept.split(",").map((part) => {
    const [range = "", ...parameters] = part.split(";").map((s) => s.trim().toLowerCase())
    const qParameter = parameters.find((p) => p.startsWith("q="))
    const q = qParameter === undefined ? 1 : Number(qParameter.slice(2))
    return { range, q: Number.isFinite(q) ? Math.min(1, Math.max(0, q)) : 0 }
  })
  return quality(ranges, "text/html") > quality(ranges, "application/json")
}

// Paths are relative to /status, so the page also works behind a proxy that mounts the service under a prefix.
export const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Status · dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="status/app.css">
<script src="status/app.js" defer></script>
</head>
<body>
<header class="top">
  <h1>dashboard status</h1>
  <p id="freshness" class="freshness">Loading…</p>
</header>
<div id="contact" class="contact" role="alert" hidden></div>
<main id="main" aria-busy="true">
  <section id="overall" class="overall" data-state="loading" aria-labelledby="overall-heading">
    <h2 id="overall-heading" class="overall-state">
      <span id="overall-icon" class="icon" aria-hidden="true">…</span>
      <span id="overall-label">Loading</span>
    </h2>
    <p id="overall-detail" class="detail"></p>
    <dl id="overall-availability" class="availability"></dl>
  </section>
  <section aria-labelledby="dependencies-heading">
    <h2 id="dependencies-heading">Dependencies</h2>
    <div id="dependencies" class="dependencies"></div>
  </section>
  <section aria-labelledby="changes-heading">
    <h2 id="changes-heading">Recent changes</h2>
    <ol id="changes" class="changes"></ol>
    <p id="no-changes" class="muted" hidden>No state change since the service started.</p>
  </section>
</main>
<footer class="muted">
  <p>Updated once a second from <code>GET /status</code> (JSON with <code>Accept: application/json</code>).
  Badge: <a href="status/badge.svg">status/badge.svg</a>. API: <a href="openapi.json">openapi.json</a>.</p>
</footer>
<p id="announcer" class="visually-hidden" aria-live="polite"></p>
<noscript><p>This page draws the report with JavaScript. The same report is JSON at <code>GET /status</code>.</p></noscript>
</body>
</html>
`

/** The page's own assets and its badge, as fast routes beside `routes`: none of them enters the Effect runtime. */
export const withStatusPageRoutes = <E, R>(
  routes: Layer.Layer<FastRoutes, E, R>
): Layer.Layer<FastRoutes, E, R | Readiness> =>
  Layer.effect(
    FastRoutes,
    Effect.gen(function*() {
      const others = yield* FastRoutes
      const readiness = yield* Readiness
      const clock = yield* Effect.clock
      const asset = (contentType: string, body: string): FastRoute => {
        const answer: FastAnswer = {
          status: 200,
          headers: { ...securityHeaders, "content-type": contentType, "cache-control": "no-cache" },
          body
        }
        return () => answer
      }
      const badgeHeaders = {
        ...securityHeaders,
        "content-type": "image/svg+xml; charset=utf-8",
        "cache-control": "no-store",
        // An SVG opened on its own is a document: it gets to run nothing.
        "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'"
      }
      const badgeAnswer = (snapshot: Snapshot): FastAnswer => ({
        status: 200,
        headers: badgeHeaders,
        body: badge(badgeState(snapshot))
      })
      const badgeRoute: FastRoute = () => {
        const snapshot = readiness.unsafeFresh(clock.unsafeCurrentTimeMillis())
        return snapshot === undefined ? readiness.unsafeRefresh().then(badgeAnswer) : badgeAnswer(snapshot)
      }
      return new Map<string, FastRoute>([
        ...others,
        [scriptPath, asset("text/javascript; charset=utf-8", script)],
        [stylesPath, asset("text/css; charset=utf-8", styles)],
        [badgePath, badgeRoute]
      ])
    })
  ).pipe(Layer.provide(routes))
