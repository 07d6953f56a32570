// Tenants over HTTP: the app served on loopback with chaos tenants. What /readyz, /readyz/tenants/<id>, /status and
// /metrics answer with tenants, and what STATUS_TOKEN guards.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { tenantRoute, unknownTenantAnswer } from "../../src/http/Probes.js"
import type { FastAnswer, FastRequest } from "../../src/http/Server.js"
import { StatusToken } from "../../src/http/StatusToken.js"
import { Database } from "../../src/layers/Database.js"
import { Redis } from "../../src/layers/Redis.js"
import * as TenantChaos from "../../src/layers/TenantChaos.js"
import { Tenants, type TenantsSettings } from "../../src/Tenants.js"
import * as TestApp from "../support/TestApp.js"

const targets = [
  TenantChaos.tenant("acme", TenantChaos.Healthy),
  TenantChaos.tenant("globex", TenantChaos.Unavailable("schema not found")),
  TenantChaos.tenant("initech", TenantChaos.Healthy, TenantChaos.Unavailable("permission denied"))
]

const serveTenants = (options: { readonly token?: string; readonly settings?: Partial<TenantsSettings> } = {}) =>
  Effect.gen(function*() {
    const app = yield* TestApp.serve({
      database: Database.Test,
      redis: Redis.Test,
      settings: TestApp.settings({ notReadyStatus: 503 }),
      tenants: Tenants.layerFromTargets(targets, options.settings),
      ...(options.token === undefined ? {} : { token: StatusToken.make(Redacted.make(options.token)) })
    })
    yield* app.tenants!.refresh
    yield* app.readiness.refresh
    return app
  })

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } })

describe("tenants over HTTP", () => {
  it.scoped("without tenants, /readyz has no tenants check and no tenants field", () =>
    Effect.gen(function*() {
      const app = yield* TestApp.serve({ database: Database.Test, redis: Redis.Test })
      yield* app.readiness.refresh
      const probe = yield* app.ready
      expect(Object.keys(probe.body.checks)).toEqual(["database", "redis"])
      expect(probe.text).not.toContain("tenants")
      expect((yield* app.request("/readyz/tenants/acme")).status).toBe(404)
    }))

  it.scoped("/readyz with tenants: a tenants check, and counts by state (all three keys) that name no tenant", () =>
    Effect.gen(function*() {
      const app = yield* serveTenants()
      const probe = yield* app.ready
      expect(probe.status).toBe(200)
      expect(probe.body.status).toBe("ready")
      expect(probe.body.checks.tenants).toMatchObject({ status: "up" })
      expect(probe.body.tenants).toEqual({ up: 1, down: 2, "not initialised": 0 })
      for (const id of ["acme", "globex", "initech"]) expect(probe.text).not.toContain(id)
      const check = yield* app.request("/readyz/tenants")
      expect(check.json).toMatchObject({ checks: { tenants: { status: "up" } }, tenants: { up: 1 } })
      const verbose = yield* app.request("/readyz?verbose")
      expect(verbose.text).toContain("[+]tenants ok")
    }))

  it.scoped("another method on /readyz/tenants/<id> → 405 with Allow: GET, HEAD, known id or not", () =>
    Effect.gen(function*() {
      const app = yield* serveTenants()
      for (const path of ["/readyz/tenants/acme", "/readyz/tenants/nobody"]) {
        const answer = yield* app.request(path, { method: "POST" })
        expect(answer.status, path).toBe(405)
        expect(answer.headers.get("allow")).toBe("GET, HEAD")
      }
      // Only paths under the prefix: the prefix itself, or a path that merely starts with its letters, is unknown.
      for (const path of ["/readyz/tenants/", "/readyz/tenantsx", "/readyz/tenants-acme"]) {
        expect((yield* app.request(path, { method: "POST" })).status, path).toBe(404)
      }
    }))

  it.scoped("the tenant counts go with the tenants check: left out with it, kept when another check is", () =>
    Effect.gen(function*() {
      const app = yield* serveTenants()
      const without = (yield* app.request("/readyz?exclude=tenants")).json as Record<string, unknown>
      expect(Object.keys(without)).toEqual(["status", "checkedAt", "checks", "ageMs"])
      const others = (yield* app.request("/readyz?exclude=database")).json as Record<string, unknown>
      expect(others).toMatchObject({ tenants: { up: 1, down: 2, "not initialised": 0 } })
      expect((yield* app.request("/readyz/redis")).json).not.toHaveProperty("tenants")
    }))

  it.scoped("GET /readyz/tenants/<id>: that tenant's checks; READYZ_NOT_READY_STATUS when down; 404 for an unknown id", () =>
    Effect.gen(function*() {
      const app = yield* serveTenants()
      const acme = yield* app.request("/readyz/tenants/acme")
      expect(acme.status).toBe(200)
      expect(acme.json).toEqual({
        tenant: "acme",
        status: "up",
        checkedAt: new Date(0).toISOString(),
        checks: { database: { status: "up", latencyMs: 0 }, redis: { status: "up", latencyMs: 0 } }
      })
      const globex = yield* app.request("/readyz/tenants/globex")
      expect(globex.status).toBe(503)
      expect(globex.json).toMatchObject({
        status: "down",
        checks: { database: { status: "down", error: "schema not found" }, redis: { status: "up" } }
      })
      for (const path of ["/readyz/tenants/nobody", "/readyz/tenants/acme/more", "/readyz/tenants/ACME"]) {
        const unknown = yield* app.request(path)
        expect(unknown.status).toBe(404)
        expect(unknown.json).toEqual({ error: "unknown tenant" })
      }
      const head = yield* app.request("/readyz/tenants/acme", { method: "HEAD" })
      expect(head.status).toBe(200)
      expect(head.text).toBe("")
    }))

  it.scoped("with STATUS_TOKEN: what names a tenant needs the bearer (401 for known and unknown ids alike); probes never do", () =>
    Effect.gen(function*() {
      const app = yield* serveTenants({ token: "s3cret-token" })
      for (const path of ["/readyz/tenants/acme", "/readyz/tenants/nobody"]) {
        for (
          const init of [{}, bearer("wrong"), bearer("s3cret-token-but-longer"), {
            headers: { authorization: "s3cret-token" }
          }]
        ) {
          const denied = yield* app.request(path, init)
          expect(denied.status).toBe(401)
          expect(denied.headers.get("www-authenticate")).toBe("Bearer")
          expect(denied.text).not.toContain("tenant")
        }
      }
      expect((yield* app.request("/readyz/tenants/acme", bearer("s3cret-token"))).status).toBe(200)
      expect((yield* app.request("/readyz/tenants/nobody", bearer("s3cret-token"))).status).toBe(404)
      for (const path of ["/healthz", "/livez", "/readyz", "/readyz/tenants", "/readyz/database"]) {
        expect((yield* app.request(path)).status).toBe(200)
      }
      const status = yield* app.request("/status")
      expect(status.status).toBe(401)
      expect(status.headers.get("www-authenticate")).toBe("Bearer")
      expect(status.text).not.toContain("acme")
      const allowed = yield* app.request("/status", bearer("s3cret-token"))
      expect(allowed.status).toBe(200)
      const metrics = yield* app.request("/metrics")
      expect(metrics.text).toContain("dashboard_tenants{state=\"up\"} 1")
      expect(metrics.text).not.toContain("acme")
      const labelled = yield* app.request("/metrics", bearer("s3cret-token"))
      expect(labelled.text).toContain("dashboard_tenant_up{tenant=\"acme\"} 1")
    }))

  it.scoped("/status lists every tenant with its checks, in the file's order", () =>
    Effect.gen(function*() {
      const app = yield* serveTenants()
      const status = yield* app.request("/status")
      const tenants = (status.json as { tenants: ReadonlyArray<{ tenant: string; status: string }> }).tenants
      expect(tenants.map(({ status, tenant }) => [tenant, status])).toEqual([
        ["acme", "up"],
        ["globex", "down"],
        ["initech", "down"]
      ])
    }))

  it.scoped("metrics: dashboard_tenants by state always; dashboard_tenant_up per tenant only up to TENANT_METRICS_MAX", () =>
    Effect.gen(function*() {
      const within = yield* serveTenants({ settings: { metricsMax: 3 } })
      const listed = (yield* within.request("/metrics")).text
      expect(listed).toMatch(/dashboard_tenants\{state="down"\} 2/)
      expect(listed).toMatch(/dashboard_tenants\{state="not initialised"\} 0/)
      expect(listed.match(/^dashboard_tenant_up\{/gm)).toHaveLength(3)
      const capped = yield* serveTenants({ settings: { metricsMax: 2 } })
      const over = (yield* capped.request("/metrics")).text
      expect(over).toMatch(/dashboard_tenants\{state="up"\} 1/)
      expect(over).not.toMatch(/^dashboard_tenant_up\{/m)
      // Back under the cap (a tenant removed), the series come back, and the removed tenant's does not.
      yield* capped.tenants!.replace(targets.slice(0, 2))
      const back = (yield* capped.request("/metrics")).text
      expect(back.match(/^dashboard_tenant_up\{/gm)).toHaveLength(2)
      expect(back).not.toContain("initech")
    }))
})

describe("the per-tenant route, in process", () => {
  const known: FastAnswer = { status: 200, headers: {}, body: "{}" }
  const answers = new Map(Array.from({ length: 1_000 }, (_, i) => [`tenant-${i}`, known]))
  const route = tenantRoute({ answer: (id) => answers.get(id) }, () => true)
  const request = (path: string): FastRequest => ({
    method: "GET",
    path,
    query: "",
    headers: {},
    header: () => undefined
  })

  it("an unknown id takes as long as a known one: the same lookup and a ready answer", () => {
    expect(route(request("/readyz/tenants/tenant-500"))).toBe(known)
    expect(route(request("/readyz/tenants/tenant-x00"))).toBe(unknownTenantAnswer)
    const knownRequest = request("/readyz/tenants/tenant-500")
    const unknownRequest = request("/readyz/tenants/tenant-x00")
    const batch = (r: FastRequest) => {
      const start = process.hrtime.bigint()
      for (let i = 0; i < 2_000; i++) route(r)
      return Number(process.hrtime.bigint() - start)
    }
    // Batches alternate, so a pause of the machine (GC, the other core's suite) lands on both sides alike; the
    // median of the per-pair ratios then compares like with like. A per-probe walk or a delay for unknown ids
    // would be far off.
    const ratios: Array<number> = []
    for (let pair = 0; pair < 61; pair++) {
      const knownNanos = batch(knownRequest)
      const unknownNanos = batch(unknownRequest)
      if (pair >= 10) ratios.push(unknownNanos / knownNanos)
    }
    const ratio = ratios.sort((a, b) => a - b)[25]!
    expect(ratio).toBeLessThan(2)
    expect(ratio).toBeGreaterThan(0.5)
  })

  it("the token is checked before the id is looked up", () => {
    const looked: Array<string> = []
    const guarded = tenantRoute({ answer: (id) => (looked.push(id), known) }, () => false)
    expect(guarded(request("/readyz/tenants/tenant-1"))).toMatchObject({ status: 401 })
    expect(looked).toEqual([])
  })
})
