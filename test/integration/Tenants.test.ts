// TENANTS_FILE's live tenants against the machine's PostgreSQL and Redis (read only: no role, schema or ACL user is
// created on the shared servers), and reloading the file: on change, on SIGHUP, and keeping the tenants when invalid.
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Tenants, type TenantsService } from "../../src/Tenants.js"
import * as TenantsLive from "../../src/TenantsLive.js"
import * as PrivateServers from "../support/PrivateServers.js"
import * as TestApp from "../support/TestApp.js"

const secret = "n0t-the-password"

const tenant = (
  id: string,
  postgres: unknown,
  redis: unknown = { url: "redis://127.0.0.1:6379", keyPrefix: `${id}:` }
) => ({
  id,
  postgres,
  redis
})

const initial = [
  tenant("public", { schema: "public" }),
  tenant("own-database", { url: "postgres://postgres@127.0.0.1:5432/postgres", maxConnections: 1, idleTimeoutMs: 500 }),
  tenant("no-privilege", { schema: "pg_toast", role: "pg_monitor" }),
  tenant("no-schema", { schema: "no_such_schema_for_dashboard" }),
  tenant("no-role", { schema: "public", role: "no_such_role_for_dashboard" }),
  tenant("no-database", { url: `postgres://postgres:${secret}@127.0.0.1:5432/no_such_database_for_dashboard` }),
  tenant("wrong-password", { schema: "public" }, { user: "nobody", password: secret, keyPrefix: "nobody:" })
]

const write = (path: string, tenants: ReadonlyArray<unknown>) => Fs.writeFileSync(path, JSON.stringify({ tenants }))

const states = (tenants: TenantsService) =>
  Object.fromEntries(
    tenants.reports().map((r) => [
      r.tenant,
      r.status === "up" ? "up" : `${r.status}: ${r.checks.database.error ?? "-"} / ${r.checks.redis.error ?? "-"}`
    ])
  )

const waitFor = (condition: () => boolean, withinMs = 5_000) =>
  Effect.promise(async () => {
    const deadline = Date.now() + withinMs
    while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25))
  })

describe("live tenants from TENANTS_FILE", () => {
  it.scopedLive("each tenant reads its own state; reloads add, remove and keep; an invalid file keeps the tenants", () =>
    Effect.gen(function*() {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "dashboard-tenants-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
      const file = Path.join(dir, "tenants.json")
      write(file, initial)
      const lines: Array<string> = []
      const logger = Logger.make(({ message }) => void lines.push(String(message)))
      const tenants = Context.get(
        yield* Layer.build(
          TenantsLive.layer(file).pipe(
            Layer.provide(TestApp.settings({ timeout: "1 second", interval: "200 millis" })),
            Layer.provide(Logger.replace(Logger.defaultLogger, logger))
          )
        ),
        Tenants
      )
      yield* tenants.refresh
      expect(states(tenants)).toEqual({
        "public": "up",
        "own-database": "up",
        "no-privilege": "down: permission denied / -",
        "no-schema": "down: schema not found / -",
        "no-role": "down: authentication failed / -",
        "no-database": "down: database not found / -",
        "wrong-password": "down: - / authentication failed"
      })
      expect(tenants.counts()).toEqual({ up: 2, down: 5, "not initialised": 0 })

      // The file changes: one tenant removed, one added, the rest kept as they were.
      write(file, [...initial.filter((t) => t.id !== "no-schema"), tenant("added", { schema: "public" })])
      yield* waitFor(() => tenants.answer("added") !== undefined)
      expect(tenants.answer("no-schema")).toBeUndefined()
      expect(tenants.reports().find((r) => r.tenant === "public")?.status).toBe("up")
      yield* tenants.refresh
      expect(states(tenants)["added"]).toBe("up")

      // An invalid file: the tenants stay, and one line names the tenant and the field, never the secret.
      const before = tenants.reports().map((r) => r.tenant)
      write(file, [tenant("broken", { url: `mysql://root:${secret}@db/x` })])
      yield* waitFor(() => lines.some((line) => line.includes("TENANTS_FILE reload failed")))
      const failures = lines.filter((line) => line.includes("TENANTS_FILE reload failed"))
      expect(failures.length).toBeGreaterThanOrEqual(1)
      expect(failures[0]).toContain(`tenant "broken" (tenants[0]): postgres.url:`)
      expect(lines.join("\n")).not.toContain(secret)
      expect(tenants.reports().map((r) => r.tenant)).toEqual(before)

      // SIGHUP reloads at once, without waiting on the file watch.
      Fs.writeFileSync(file, JSON.stringify({ tenants: [tenant("public", { schema: "public" })] }))
      process.emit("SIGHUP", "SIGHUP")
      yield* waitFor(() => tenants.size() === 1, 150)
      expect(tenants.reports().map((r) => r.tenant)).toEqual(["public"])
    }))

  it.scopedLive("a tenant's Redis check runs as its ACL user on its key prefix: a wrong ACL is that tenant's failure", () =>
    Effect.gen(function*() {
      // A private Redis: ACL users are never created on the shared one.
      const redis = yield* PrivateServers.redis()
      for (
        const [user, keys, commands] of [["globex", "~globex:*", "+exists"], ["elsewhere", "~other:*", "+exists"], [
          "pingonly",
          "~pingonly:*",
          "+ping"
        ]] as const
      ) {
        yield* Effect.orDie(redis.command("ACL", "SETUSER", user, "on", ">pw", keys, commands))
      }
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "dashboard-tenants-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
      const file = Path.join(dir, "tenants.json")
      const schema = { schema: "public" }
      write(file, [
        tenant("globex", schema, { user: "globex", password: "pw", keyPrefix: "globex:" }),
        tenant("by-url", schema, { url: `redis://globex:pw@127.0.0.1:${redis.port}`, keyPrefix: "globex:" }),
        tenant("elsewhere", schema, { user: "elsewhere", password: "pw", keyPrefix: "elsewhere:" }),
        tenant("pingonly", schema, { user: "pingonly", password: "pw", keyPrefix: "pingonly:" }),
        tenant("wrong-password", schema, { user: "globex", password: "nope", keyPrefix: "globex:" })
      ])
      const tenants = Context.get(
        yield* Layer.build(
          TenantsLive.layer(file).pipe(
            Layer.provide(TestApp.settings({ timeout: "1 second", interval: "200 millis" })),
            Layer.provide(
              Layer.setConfigProvider(
                ConfigProvider.fromMap(new Map([["REDIS_URL", `redis://127.0.0.1:${redis.port}`]]))
              )
            )
          )
        ),
        Tenants
      )
      yield* tenants.refresh
      expect(states(tenants)).toEqual({
        "globex": "up",
        "by-url": "up",
        "elsewhere": "down: - / permission denied",
        "pingonly": "down: - / permission denied",
        "wrong-password": "down: - / authentication failed"
      })
    }))
})
