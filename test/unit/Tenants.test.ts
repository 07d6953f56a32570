// The tenants file's decoding (generated files: it never throws, every problem names tenant and field, no secret in
// any message), the status token, and replacing tenants (a reload): added, removed, kept.
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as TestClock from "effect/TestClock"
import { bearerCheck } from "../../src/http/StatusToken.js"
import { Database } from "../../src/layers/Database.js"
import * as TenantChaos from "../../src/layers/TenantChaos.js"
import type { TenantTarget } from "../../src/Tenants.js"
import { admissionsPerTurn, Tenants } from "../../src/Tenants.js"
import { decodeTenantsFile } from "../../src/TenantsFile.js"
import * as TestApp from "../support/TestApp.js"

const secret = "Sup3r-Secret"

const validTenant = (id: string, index: number) => ({
  id,
  postgres: index % 2 === 0
    ? { url: `postgres://${id}:${secret}${index}@127.0.0.1:5433/${id}`, maxConnections: 2 }
    : { schema: `s_${index}`, role: `r_${index}` },
  redis: index % 3 === 0
    ? { url: `redis://${id}:${secret}${index}@127.0.0.1:6380` }
    : { user: id, password: `${secret}${index}`, keyPrefix: `${id}:` }
})

// A value that may hide a secret in any field, of any JSON type.
const anyValue = FastCheck.oneof(
  FastCheck.constant(`${secret}-x`),
  FastCheck.constant(`postgres://u:${secret}@h/d`),
  FastCheck.constant(`redis://u:${secret}@h:1/abc`),
  FastCheck.constant(`http://${secret}`),
  FastCheck.integer(),
  FastCheck.constant(null),
  FastCheck.constant([secret]),
  FastCheck.constant({ nested: secret }),
  FastCheck.string()
)

/** A valid tenant with one of its fields replaced, removed or added. */
const brokenTenant = FastCheck.tuple(
  FastCheck.nat(20),
  FastCheck.constantFrom(
    ["id"],
    ["postgres"],
    ["redis"],
    ["postgres", "url"],
    ["postgres", "maxConnections"],
    ["postgres", "idleTimeoutMs"],
    ["postgres", "schema"],
    ["postgres", "role"],
    ["postgres", "extra"],
    ["redis", "url"],
    ["redis", "user"],
    ["redis", "password"],
    ["redis", "keyPrefix"],
    ["redis", "extra"],
    ["extra"]
  ),
  FastCheck.oneof(anyValue, FastCheck.constant(undefined))
).map(([index, path, value]) => {
  const tenant: Record<string, unknown> = structuredClone(validTenant(`t${index}`, index))
  let target = tenant
  for (const key of path.slice(0, -1)) {
    if (typeof target[key] !== "object" || target[key] === null) target[key] = {}
    target = target[key] as Record<string, unknown>
  }
  const last = path[path.length - 1]!
  if (value === undefined) delete target[last]
  else target[last] = value
  return { tenant, field: path.join(".") }
})

describe("the tenants file", () => {
  it("the contract's example decodes; secrets are redacted", () => {
    const decoded = decodeTenantsFile(JSON.stringify({ tenants: [validTenant("acme", 0), validTenant("globex", 1)] }))
    expect(Either.isRight(decoded)).toBe(true)
    const tenants = Either.getOrThrow(decoded)
    expect(tenants.map((t) => t.id)).toEqual(["acme", "globex"])
    expect(tenants[0]!.postgres).toMatchObject({ _tag: "database", maxConnections: 2, idleTimeoutMs: 10_000 })
    expect(tenants[1]!.postgres).toEqual({ _tag: "schema", schema: "s_1", role: "r_1" })
    expect(tenants[1]!.redis).toMatchObject({ _tag: "user", user: "globex", keyPrefix: "globex:" })
    expect(JSON.stringify(tenants)).not.toContain(secret)
    expect(String(tenants[0]!.postgres._tag === "database" && tenants[0]!.postgres.url)).toBe("<redacted>")
  })

  it("never throws, names the tenant and the field of every problem, and never repeats a secret (generated files)", () => {
    FastCheck.assert(
      FastCheck.property(
        FastCheck.array(FastCheck.nat(30), { maxLength: 4 }),
        FastCheck.array(brokenTenant, { minLength: 1, maxLength: 3 }),
        (validIds, broken) => {
          const valid = [...new Set(validIds)].map((i) => validTenant(`ok${i}`, i))
          const tenants = [...valid, ...broken.map((b) => b.tenant)]
          const decoded = decodeTenantsFile(JSON.stringify({ tenants }))
          if (Either.isRight(decoded)) return
          const problems = decoded.left.problems
          expect(problems.length).toBeGreaterThan(0)
          for (const problem of problems) {
            expect(problem).toMatch(/^(tenant "[a-z0-9][a-z0-9_-]*" \(tenants\[\d+\]\)|tenants\[\d+\]): [a-zA-Z.]+: \S/)
            expect(problem).not.toContain(secret)
          }
          expect(decoded.left.message).not.toContain(secret)
          expect(String(decoded.left)).not.toContain(secret)
        }
      ),
      { numRuns: 300 }
    )
  })

  it("a broken field is reported under its tenant and its own name", () => {
    FastCheck.assert(
      FastCheck.property(brokenTenant, ({ field, tenant }) => {
        const decoded = decodeTenantsFile(JSON.stringify({ tenants: [tenant] }))
        if (Either.isRight(decoded)) return
        const [problem] = decoded.left.problems
        const top = field.split(".")[0]!
        // The field itself, or (when its variant cannot be told) the object holding it.
        expect(problem).toMatch(new RegExp(`: (${field.replace(".", "\\.")}|${top}(\\.\\w+)?|tenant): `))
        if (top !== "id") expect(problem).toContain(`tenant "${tenant.id}" (tenants[0])`)
      }),
      { numRuns: 300 }
    )
  })

  it("never throws on arbitrary text, and never quotes it", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.oneof(FastCheck.string(), FastCheck.json()), (text) => {
        const decoded = decodeTenantsFile(`${text}${secret}`)
        if (Either.isLeft(decoded)) expect(decoded.left.message).not.toContain(secret)
      })
    )
  })

  it("duplicate ids are refused, naming the second", () => {
    const decoded = decodeTenantsFile(JSON.stringify({ tenants: [validTenant("a", 0), validTenant("a", 1)] }))
    expect(Either.isLeft(decoded) && decoded.left.problems).toEqual([`tenant "a" (tenants[1]): id: is not unique`])
  })
})

describe("the status token", () => {
  const authorized = bearerCheck(Redacted.make("t0ken"))
  it("accepts exactly `Bearer <token>` (the scheme in any case)", () => {
    expect(authorized("Bearer t0ken")).toBe(true)
    expect(authorized("bearer t0ken")).toBe(true)
    for (const header of [undefined, "", "Bearer", "Bearer ", "Bearer t0ke", "Bearer t0ken1", "t0ken", "Basic t0ken"]) {
      expect(authorized(header)).toBe(false)
    }
  })
  it("an empty token configured still refuses an empty bearer", () => {
    expect(bearerCheck(Redacted.make(""))("Bearer ")).toBe(false)
  })
})

describe("replacing tenants (a reload)", () => {
  const build = (targets: ReadonlyArray<TenantTarget>) =>
    Layer.build(Tenants.layerFromTargets(targets).pipe(Layer.provide(TestApp.settings()))).pipe(
      Effect.map(Context.get(Tenants))
    )

  /** A healthy database whose layer records its release. */
  const released = (log: Ref.Ref<ReadonlyArray<string>>, id: string) =>
    Layer.scoped(
      Database,
      Effect.acquireRelease(
        Effect.succeed(Database.of({ ping: Effect.void })),
        () => Ref.update(log, (ids) => [...ids, id])
      )
    )

  it.scoped("added tenants start not initialised; removed ones are released and gone; unchanged ones keep their state", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const target = (id: string, key = id) =>
        ({ ...TenantChaos.tenant(id, TenantChaos.Healthy), database: released(log, id), key }) satisfies TenantTarget
      const tenants = yield* build([target("a"), target("b"), target("c")])
      yield* tenants.refresh
      expect(tenants.counts()).toEqual({ up: 3, down: 0, "not initialised": 0 })

      yield* tenants.replace([target("a"), target("c", "c-changed"), target("d")])
      expect(tenants.reports().map((r) => [r.tenant, r.status])).toEqual([
        ["a", "up"],
        ["c", "not initialised"],
        ["d", "not initialised"]
      ])
      expect(tenants.answer("b")).toBeUndefined()
      expect(tenants.counts()).toEqual({ up: 1, down: 0, "not initialised": 2 })
      // Released in the background: let it run.
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
      expect([...(yield* Ref.get(log))].sort()).toEqual(["b", "c"])

      yield* tenants.refresh
      expect(tenants.counts()).toEqual({ up: 3, down: 0, "not initialised": 0 })
      yield* tenants.replace([])
      expect(tenants.counts()).toEqual({ up: 0, down: 0, "not initialised": 0 })
      expect(tenants.size()).toBe(0)
    }))

  it.scoped("a refresh checks tenants added while a round that began before them is still running", () =>
    Effect.gen(function*() {
      const slow = TenantChaos.tenant("slow", TenantChaos.Slow("200 millis"))
      const tenants = yield* build([slow])
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
      yield* tenants.replace([slow, TenantChaos.tenant("added", TenantChaos.Healthy)])
      const refreshed = yield* Effect.fork(tenants.refresh)
      // The round in flight ends; the refresh then runs one of its own, which the slow tenant makes last as long.
      yield* TestClock.adjust("200 millis")
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
      yield* TestClock.adjust("200 millis")
      yield* Fiber.join(refreshed)
      expect(tenants.reports().map((r) => [r.tenant, r.status])).toEqual([["slow", "up"], ["added", "up"]])
    }))

  it.scoped("a tenant removed while its check hangs is released at once, and its late result changes nothing", () =>
    Effect.gen(function*() {
      const tenants = yield* build([
        TenantChaos.tenant("stuck", TenantChaos.Hanging),
        TenantChaos.tenant("ok", TenantChaos.Healthy)
      ])
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
      yield* tenants.replace([TenantChaos.tenant("ok", TenantChaos.Healthy)])
      expect(tenants.size()).toBe(1)
      expect(tenants.answer("stuck")).toBeUndefined()
      expect(tenants.counts()).toEqual({ up: 1, down: 0, "not initialised": 0 })
    }))

  it.scopedLive("a round of many tenants gives the event loop a turn after every `admissionsPerTurn` admissions", () =>
    Effect.gen(function*() {
      let started = 0
      const counted = Layer.succeed(Database, Database.of({ ping: Effect.sync(() => void (started += 1)) }))
      const targets = Array.from(
        { length: 300 },
        (_, i) => ({ ...TenantChaos.tenant(`t${i}`, TenantChaos.Healthy), database: counted }) satisfies TenantTarget
      )
      const tenants = yield* build(targets)
      yield* tenants.refresh
      // One sample per turn of the event loop while a round runs: how many checks had started by then.
      const samples: Array<number> = []
      let sampling = true
      const sample = () => {
        samples.push(started)
        if (sampling) setImmediate(sample)
      }
      const before = started
      setImmediate(sample)
      yield* tenants.refresh
      sampling = false
      expect(started - before).toBeGreaterThanOrEqual(300)
      const turns = [before, ...samples, started]
      const perTurn = turns.slice(1).map((n, i) => n - turns[i]!)
      expect(Math.max(...perTurn)).toBeLessThanOrEqual(admissionsPerTurn)
      expect(perTurn.filter((n) => n > 0).length).toBeGreaterThanOrEqual(Math.ceil(300 / admissionsPerTurn))
    }))

  it.scoped("a tenant that hangs after the first turn's admissions is still timed out at its budget, and the round ends", () =>
    Effect.gen(function*() {
      // 100 healthy tenants settle in the first turns; the hung one is admitted in a later turn.
      const targets = [
        ...Array.from({ length: 100 }, (_, i) => TenantChaos.tenant(`ok-${i}`, TenantChaos.Healthy)),
        TenantChaos.tenant("late-hung", TenantChaos.Hanging)
      ]
      const tenants = yield* build(targets)
      // The admissions after the first `admissionsPerTurn` wait for a turn of the event loop.
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
      yield* TestClock.adjust("500 millis")
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
      expect(tenants.counts()).toEqual({ up: 100, down: 1, "not initialised": 0 })
      expect(tenants.reports().at(-1)).toMatchObject({
        tenant: "late-hung",
        status: "down",
        checks: { database: { status: "down", error: "timeout" } }
      })
    }))
})
