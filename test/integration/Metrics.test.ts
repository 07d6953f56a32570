// A real scrape of the served app on the live layers, one dependency up and one refused (so failure series carry
// values too), checked by `promtool check metrics`: it must report nothing.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { spawnSync } from "node:child_process"
import * as Net from "node:net"
import { Database } from "../../src/layers/Database.js"
import { Redis } from "../../src/layers/Redis.js"
import * as TestApp from "../support/TestApp.js"

const closedPort = Effect.promise(() =>
  new Promise<number>((resolve) => {
    const server = Net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as Net.AddressInfo
      server.close(() => resolve(port))
    })
  })
)

describe("a real scrape", () => {
  it.scopedLive("passes `promtool check metrics` with nothing to report", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const app = yield* TestApp.serve({
        database: Database.layer({
          url: Redacted.make("postgres://postgres@127.0.0.1:5432/postgres"),
          timeout: "300 millis"
        }),
        redis: Redis.layer({ url: Redacted.make(`redis://127.0.0.1:${port}`), timeout: "300 millis" }),
        settings: TestApp.settings({ timeout: "300 millis", interval: "50 millis" })
      })
      yield* app.readiness.refresh
      yield* Effect.sleep("200 millis")
      yield* app.request("/healthz")
      yield* app.request("/nope")
      const scrape = yield* app.request("/metrics")
      expect(scrape.text).toContain("dashboard_readiness_checks_total{dependency=\"redis\",result=\"down\"")
      const promtool = spawnSync("promtool", ["check", "metrics"], { input: scrape.text, encoding: "utf8" })
      expect(promtool.error, "promtool is installed (Debian package `prometheus`)").toBeUndefined()
      expect(`${promtool.stdout}${promtool.stderr}`).toBe("")
      expect(promtool.status).toBe(0)
    }))
})
