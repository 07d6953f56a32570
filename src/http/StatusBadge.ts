// The readiness badge (shields.io's flat style): "readiness | ready" in green, "not ready" in red, "shutting down"
// in grey. Three fixed SVGs, made once; a request only picks one from the readiness snapshot.
import type { Snapshot } from "../Readiness.js"

export type BadgeState = "ready" | "not ready" | "shutting down"

/** Shutting down is what the snapshot says while the service stops: every check down for `shutting down`. */
export const badgeState = (snapshot: Snapshot): BadgeState => {
  const checks = Object.values(snapshot.checks)
  if (checks.length > 0 && checks.every((check) => check.error === "shutting down")) return "shutting down"
  return snapshot.status
}

const colours: Record<BadgeState, string> = {
  ready: "#2e7d32",
  "not ready": "#c62828",
  "shutting down": "#757575"
}

// Widths of Verdana at 11 px, the font shields.io measures with; wide enough for the three fixed labels.
const charWidths: Record<string, number> = {
  a: 6.8,
  d: 6.9,
  e: 6.6,
  g: 6.9,
  h: 7,
  i: 3,
  n: 7,
  o: 6.7,
  r: 4.7,
  s: 5.7,
  t: 4.3,
  u: 7,
  w: 8.9,
  y: 6.5,
  " ": 3.5
}
const textWidth = (text: string) => [...text].reduce((sum, char) => sum + (charWidths[char] ?? 7), 0)

const render = (label: string, value: string, colour: string): string => {
  const left = Math.round(textWidth(label) + 12)
  const right = Math.round(textWidth(value) + 12)
  const width = left + right
  const text = (x: number, content: string) =>
    `<text x="${x}" y="15" fill="#010101" fill-opacity=".3">${content}</text>` +
    `<text x="${x}" y="14">${content}</text>`
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="20" role="img" ` +
    `aria-label="${label}: ${value}"><title>${label}: ${value}</title>` +
    `<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>` +
    `<stop offset="1" stop-opacity=".1"/></linearGradient>` +
    `<clipPath id="r"><rect width="${width}" height="20" rx="3" fill="#fff"/></clipPath>` +
    `<g clip-path="url(#r)"><rect width="${left}" height="20" fill="#555"/>` +
    `<rect x="${left}" width="${right}" height="20" fill="${colour}"/>` +
    `<rect width="${width}" height="20" fill="url(#s)"/></g>` +
    `<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">` +
    text(left / 2, label) + text(left + right / 2, value) + `</g></svg>`
}

const badges: Record<BadgeState, string> = {
  ready: render("readiness", "ready", colours.ready),
  "not ready": render("readiness", "not ready", colours["not ready"]),
  "shutting down": render("readiness", "shutting down", colours["shutting down"])
}

export const badge = (state: BadgeState): string => badges[state]
