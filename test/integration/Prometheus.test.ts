// The Prometheus harness against a real Prometheus: it starts, scrapes, loads deploy/prometheus's rules, and a target
// that cannot be scraped reads up == 0, which DashboardTargetMissing turns into a pending alert.
import { describe, expect, it, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { existsSync } from "node:fs"
import * as Prometheus from "../support/Prometheus.js"

class Server extends Context.Tag("test/Prometheus")<Server, Prometheus.Prometheus>() {}

// A dashboard target on a port where nothing listens: what Prometheus sees when the service is down.
const ServerLive = Layer.scoped(
  Server,
  Effect.flatMap(
    Prometheus.freePort,
    (closed) => Prometheus.make({ scrapeSelf: true, targets: [{ job: "dashboard", address: `127.0.0.1:${closed}` }] })
  )
)

describe("Prometheus harness", () => {
  layer(ServerLive, { excludeTestServices: true, timeout: "30 seconds" })((it) => {
    it.effect("scrapes its own /metrics: the target is up", () =>
      Effect.gen(function*() {
        const prometheus = yield* Server
        const targets = yield* Prometheus.eventually(
          "the prometheus target up",
          prometheus.targets,
          (targets) => targets.some((target) => target.labels.job === "prometheus" && target.health === "up")
        )
        expect(targets.find((target) => target.labels.job === "prometheus")?.scrapeUrl).toBe(
          `${prometheus.url}/metrics`
        )
        const up = yield* prometheus.query(`up{job="prometheus"}`)
        expect(up.map((sample) => sample.value[1])).toEqual([1])
      }))

    it.effect("loads the rule groups of deploy/prometheus, all healthy", () =>
      Effect.gen(function*() {
        const prometheus = yield* Server
        const groups = yield* prometheus.rules
        expect(groups.map((group) => group.name).sort()).toEqual(
          ["dashboard.alerts", "dashboard.availability", "dashboard.slo"]
        )
        const alerts = groups.flatMap((group) => group.rules).filter((rule) => rule.type === "alerting")
        expect(new Set(alerts.map((rule) => rule.name))).toEqual(
          new Set([
            "DashboardErrorBudgetFastBurn",
            "DashboardErrorBudgetSlowBurn",
            "DashboardDependencyDown",
            "DashboardReadinessFlapping",
            "DashboardTargetMissing"
          ])
        )
        // Evaluated at least once without error (a rule that never ran reads "unknown").
        const evaluated = yield* Prometheus.eventually(
          "every rule evaluated",
          prometheus.rules,
          (groups) => groups.every((group) => group.rules.every((rule) => rule.health !== "unknown"))
        )
        for (const rule of evaluated.flatMap((group) => group.rules)) {
          expect({ rule: rule.name, health: rule.health, error: rule.lastError ?? "" }).toEqual({
            rule: rule.name,
            health: "ok",
            error: ""
          })
        }
      }))

    it.effect("a dashboard target on a closed port reads up == 0 and DashboardTargetMissing is pending", () =>
      Effect.gen(function*() {
        const prometheus = yield* Server
        const targets = yield* Prometheus.eventually(
          "the dashboard target down",
          prometheus.targets,
          (targets) => targets.some((target) => target.labels.job === "dashboard" && target.health === "down")
        )
        const instance = targets.find((target) => target.labels.job === "dashboard")?.labels.instance
        const up = yield* prometheus.query(`up{job="dashboard"}`)
        expect(up.map((sample) => [sample.metric.instance, sample.value[1]])).toEqual([[instance, 0]])
        // `for: 3m` keeps it pending in a test this short; pending means its expression holds. Before the first
        // scrape `absent(up)` holds too (an alert without `instance`): the one that counts is the target's own.
        const alerts = yield* Prometheus.eventually(
          "DashboardTargetMissing pending for the target",
          prometheus.alerts,
          (alerts) =>
            alerts.some((alert) =>
              alert.labels.alertname === "DashboardTargetMissing" && alert.labels.instance === instance
            )
        )
        expect(alerts.filter((alert) => alert.labels.alertname === "DashboardTargetMissing")).toMatchObject([
          { state: "pending", labels: { instance, job: "dashboard", severity: "page" } }
        ])
      }))

    it.effect("answers a query that is not an instant vector with a typed error", () =>
      Effect.gen(function*() {
        const prometheus = yield* Server
        const scalar = yield* Effect.flip(prometheus.query("1 + 1"))
        expect(scalar._tag).toBe("PrometheusError")
        const invalid = yield* Effect.flip(prometheus.query("up{"))
        expect(invalid.message).toMatch(/bad_data/)
      }))
  })
})

it.scopedLive("stops Prometheus and removes its storage when the scope closes", () =>
  Effect.gen(function*() {
    const { directory, port } = yield* Effect.scoped(Prometheus.make({ targets: [] }))
    const answer = yield* Effect.either(
      Effect.tryPromise(() => fetch(`http://127.0.0.1:${port}/-/ready`, { signal: AbortSignal.timeout(2000) }))
    )
    expect(answer._tag).toBe("Left")
    expect(existsSync(directory)).toBe(false)
  }), 30_000)
