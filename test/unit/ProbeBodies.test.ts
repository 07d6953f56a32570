// The probe answers byte for byte, from a snapshot built by hand: the JSON report and its age, the plain-text and
// health+json forms, which checks count, the status in each mode, and how an Accept header is read.
import { describe, expect, it } from "@effect/vitest"
import { readinessAnswer, readinessBody, type ReadinessQuery, readinessQuery } from "../../src/http/Probes.js"
import type { Snapshot } from "../../src/Readiness.js"

const checkedAt = Date.UTC(2026, 10, 24, 15, 4, 12, 345)
const snapshot: Snapshot = {
  status: "not ready",
  checkedAt,
  checks: {
    database: { status: "up", latencyMs: 1.2 },
    redis: { status: "down", latencyMs: 500.4, error: "timeout" },
    queue: { status: "down", latencyMs: 3 }
  }
}
const ready: Snapshot = {
  status: "ready",
  checkedAt,
  checks: { database: { status: "up", latencyMs: 0.5 }, redis: { status: "up", latencyMs: 0 } }
}

const json = { "content-type": "application/json", "cache-control": "no-store" }
const query = (q: string, accept?: string, only?: string) => readinessQuery({ query: q, accept }, only)

describe("the JSON report", () => {
  it("is the snapshot with its age, the age never negative", () => {
    expect(readinessBody(ready, checkedAt + 412)).toBe(
      "{\"status\":\"ready\",\"checkedAt\":\"2026-11-24T15:04:12.345Z\",\"checks\":{\"database\":{\"status\":\"up\"," +
        "\"latencyMs\":0.5},\"redis\":{\"status\":\"up\",\"latencyMs\":0}},\"ageMs\":412}"
    )
    expect(readinessBody(ready, checkedAt)).toMatch(/,"ageMs":0}$/)
    expect(readinessBody(ready, checkedAt - 5)).toMatch(/,"ageMs":0}$/)
    // The same snapshot, encoded once, served at another age.
    expect(readinessBody(ready, checkedAt + 10)).toMatch(/,"ageMs":10}$/)
    expect(readinessBody(ready, checkedAt + 100)).toMatch(/"latencyMs":0}},"ageMs":100}$/)
  })

  it("the plain query answers the report, 200 when ready, the configured status when not", () => {
    expect(readinessAnswer(ready, query(""), checkedAt + 7, 503)).toEqual({
      status: 200,
      headers: json,
      body: readinessBody(ready, checkedAt + 7)
    })
    expect(readinessAnswer(snapshot, query(""), checkedAt, 503).status).toBe(503)
    expect(readinessAnswer(snapshot, query(""), checkedAt, 200).status).toBe(200)
  })

  it("a filtered report recomputes the verdict over the checks it keeps", () => {
    expect(readinessAnswer(snapshot, query("exclude=redis&exclude=queue"), checkedAt + 3, 503)).toEqual({
      status: 200,
      headers: json,
      body: "{\"status\":\"ready\",\"checkedAt\":\"2026-11-24T15:04:12.345Z\",\"checks\":{\"database\":{\"status\":" +
        "\"up\",\"latencyMs\":1.2}},\"ageMs\":3}"
    })
    expect(readinessAnswer(snapshot, query("exclude=queue", undefined, "redis"), checkedAt - 3, 503)).toEqual({
      status: 503,
      headers: json,
      body: "{\"status\":\"not ready\",\"checkedAt\":\"2026-11-24T15:04:12.345Z\",\"checks\":{\"redis\":{\"status\":" +
        "\"down\",\"latencyMs\":500.4,\"error\":\"timeout\"}},\"ageMs\":0}"
    })
    // `only` wins over `exclude`.
    expect(readinessAnswer(snapshot, query("exclude=database", undefined, "database"), checkedAt, 503).status).toBe(
      200
    )
    expect(readinessAnswer(snapshot, query("x=1"), checkedAt, 503).status).toBe(503)
  })
})

describe("the plain-text form", () => {
  it("one line per check, the failure's reason (unavailable when it has none), and the verdict", () => {
    const answer = readinessAnswer(snapshot, query("verbose"), checkedAt, 503)
    expect(answer).toEqual({
      status: 503,
      headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
      body: "[+]database ok\n[-]redis failed: timeout\n[-]queue failed: unavailable\nreadyz check failed\n"
    })
  })

  it("an excluded check is listed as excluded and passes; one check alone lists only itself", () => {
    expect(readinessAnswer(snapshot, query("verbose&exclude=redis&exclude=queue"), checkedAt, 503)).toMatchObject({
      status: 200,
      body: "[+]database ok\n[+]redis excluded: ok\n[+]queue excluded: ok\nreadyz check passed\n"
    })
    expect(readinessAnswer(snapshot, query("verbose&exclude=redis", undefined, "redis"), checkedAt, 200)).toEqual({
      status: 200,
      headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
      body: "[-]redis failed: timeout\nreadyz check failed\n"
    })
  })
})

describe("the health+json form", () => {
  it("each check as a component with its latency, pass or fail, and its reason", () => {
    const answer = readinessAnswer(snapshot, query("", "application/health+json"), checkedAt, 503)
    expect(answer.status).toBe(503)
    expect(answer.headers).toEqual({ "content-type": "application/health+json", "cache-control": "no-store" })
    const time = "2026-11-24T15:04:12.345Z"
    expect(answer.body).toBe(JSON.stringify({
      status: "fail",
      description: "dashboard readiness",
      checks: {
        "database:responseTime": [{
          componentType: "datastore",
          observedValue: 1.2,
          observedUnit: "ms",
          status: "pass",
          time
        }],
        "redis:responseTime": [{
          componentType: "datastore",
          observedValue: 500.4,
          observedUnit: "ms",
          status: "fail",
          time,
          output: "timeout"
        }],
        "queue:responseTime": [{
          componentType: "component",
          observedValue: 3,
          observedUnit: "ms",
          status: "fail",
          time
        }]
      }
    }))
  })

  it("passes when the checks it keeps pass", () => {
    const answer = readinessAnswer(snapshot, query("exclude=redis&exclude=queue", "application/health+json"), 0, 503)
    expect(answer.status).toBe(200)
    expect(JSON.parse(answer.body)).toMatchObject({ status: "pass" })
    expect(Object.keys(JSON.parse(answer.body).checks)).toEqual(["database:responseTime"])
  })
})

describe("reading a probe's query and Accept header", () => {
  it("nothing asked is the plain query", () => {
    expect(query("")).toBe(query(""))
    expect(query("")).toEqual({ exclude: [], verbose: false, healthJson: false })
    expect(query("", "application/json")).toBe(query(""))
  })

  it("?exclude repeats, ?verbose needs no value, a check alone is kept", () => {
    expect(query("exclude=a&exclude=b&verbose")).toEqual({ exclude: ["a", "b"], verbose: true, healthJson: false })
    expect(query("verbose=0")).toMatchObject({ verbose: true })
    expect(query("", undefined, "redis")).toEqual({ only: "redis", exclude: [], verbose: false, healthJson: false })
    expect(query("x")).not.toHaveProperty("only")
  })

  it.each<[string, boolean]>([
    ["application/health+json", true],
    ["APPLICATION/HEALTH+JSON", true],
    ["text/html, application/health+json;q=0.5", true],
    ["application/health+json ; charset=utf-8", true],
    ["application/health+json;q=0", false],
    ["application/health+json;q=0.0", false],
    ["application/health+json;q=0.000", false],
    ["application/health+json; Q=0", false],
    ["application/health+json;q=0.01", true],
    ["application/health+json;aq=0", true],
    ["application/health+json;q=1", true],
    ["application/health+json;q=0, */*", false],
    ["*/*", false],
    ["application/health+jsonx", false],
    ["xapplication/health+json", false],
    ["text/health+json", false]
  ])("Accept: %s → health+json %s", (accept, expected) => {
    expect(query("", accept).healthJson).toBe(expected)
  })

  it("a query that asks nothing known still leaves the plain JSON form", () => {
    const asked: ReadinessQuery = query("x=1")
    expect(asked).toEqual({ exclude: [], verbose: false, healthJson: false })
    expect(readinessAnswer(ready, asked, checkedAt + 1, 503).body).toBe(readinessBody(ready, checkedAt + 1))
  })
})
