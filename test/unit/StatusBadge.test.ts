// The readiness badge, drawn as shields.io's flat style draws one: two boxes sized to their text in Verdana at 11 px,
// the label grey on the left, the state coloured on the right, each text centred in its box with a shadow under it.
import { describe, expect, it } from "@effect/vitest"
import { badge, type BadgeState, badgeState } from "../../src/http/StatusBadge.js"
import type { FailureReason } from "../../src/layers/Dependency.js"

// Verdana's advance widths at 11 px, as shields.io measures them; a box is its text's width plus 6 px each side.
const verdana: Record<string, number> = {
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
const boxWidth = (text: string) => Math.round([...text].reduce((sum, char) => sum + verdana[char]!, 0) + 12)

const expected: ReadonlyArray<{ readonly state: BadgeState; readonly colour: string; readonly right: number }> = [
  { state: "ready", colour: "#2e7d32", right: 44 },
  { state: "not ready", colour: "#c62828", right: 65 },
  { state: "shutting down", colour: "#757575", right: 90 }
]

describe("the readiness badge", () => {
  it("sizes each box to its text: 65 px for the label, 44, 65 and 90 px for the states", () => {
    expect(boxWidth("readiness")).toBe(65)
    for (const { right, state } of expected) expect(boxWidth(state)).toBe(right)
  })

  for (const { colour, right, state } of expected) {
    it(`"${state}": the whole SVG, element by element`, () => {
      const left = 65
      const width = left + right
      const text = (x: number, content: string) =>
        `<text x="${x}" y="15" fill="#010101" fill-opacity=".3">${content}</text><text x="${x}" y="14">${content}</text>`
      expect(badge(state)).toBe(
        `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="20" role="img" ` +
          `aria-label="readiness: ${state}"><title>readiness: ${state}</title>` +
          `<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>` +
          `<stop offset="1" stop-opacity=".1"/></linearGradient>` +
          `<clipPath id="r"><rect width="${width}" height="20" rx="3" fill="#fff"/></clipPath>` +
          `<g clip-path="url(#r)"><rect width="${left}" height="20" fill="#555"/>` +
          `<rect x="${left}" width="${right}" height="20" fill="${colour}"/>` +
          `<rect width="${width}" height="20" fill="url(#s)"/></g>` +
          `<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">` +
          text(left / 2, "readiness") + text(left + right / 2, state) + `</g></svg>`
      )
    })
  }

  it("is one fixed SVG per state", () => {
    expect(new Set(expected.map(({ state }) => badge(state))).size).toBe(3)
    expect(badge("ready")).toBe(badge("ready"))
  })
})

describe("the badge's state", () => {
  const down = (error: FailureReason) => ({ status: "down", latencyMs: 0, error }) as const

  it("is shutting down only when there are checks and every one is down for that reason", () => {
    expect(badgeState({ status: "not ready", checkedAt: 0, checks: { a: down("shutting down") } })).toBe(
      "shutting down"
    )
    expect(badgeState({ status: "not ready", checkedAt: 0, checks: {} })).toBe("not ready")
    expect(badgeState({ status: "ready", checkedAt: 0, checks: {} })).toBe("ready")
    expect(
      badgeState({ status: "not ready", checkedAt: 0, checks: { a: down("shutting down"), b: down("timeout") } })
    ).toBe("not ready")
  })
})
