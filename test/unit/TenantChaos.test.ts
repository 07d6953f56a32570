// The chaos tenants: each fault, on the database or on Redis, reads as the tenant's checks say it should after a round.
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as TestClock from "effect/TestClock"
import * as Chaos from "../../src/layers/Chaos.js"
import * as TenantChaos from "../../src/layers/TenantChaos.js"
import { Tenants, type TenantTarget } from "../../src/Tenants.js"
import * as TestApp from "../support/TestApp.js"

const checkedOnce = (targets: ReadonlyArray<TenantTarget>) =>
  Effect.gen(function*() {
    const tenants = Context.get(
      yield* Layer.build(Tenants.layerFromTargets(targets).pipe(Layer.provide(TestApp.settings()))),
      Tenants
    )
    yield* tenants.refresh
    return Object.fromEntries(
      tenants.reports().map((report) => [report.tenant, [report.checks.database.error, report.checks.redis.error]])
    )
  })

describe("chaos tenants", () => {
  it.scoped("each fault reads as its own reason, on the dependency it was given to", () =>
    Effect.gen(function*() {
      const state = yield* Ref.make(Chaos.down("loading"))
      const errors = yield* checkedOnce([
        TenantChaos.tenant("healthy", TenantChaos.Healthy),
        TenantChaos.tenant("unavailable", TenantChaos.Unavailable()),
        TenantChaos.tenant("denied", TenantChaos.Unavailable("permission denied")),
        TenantChaos.tenant("slow", TenantChaos.Slow("1 millis")),
        TenantChaos.tenant("dying", TenantChaos.Dying),
        TenantChaos.tenant("unbuilt", TenantChaos.FailingConstruction),
        TenantChaos.tenant("switched", TenantChaos.Switchable(state)),
        TenantChaos.tenant("redis", TenantChaos.Healthy, TenantChaos.Unavailable("authentication failed"))
      ]).pipe(Effect.fork, Effect.tap(() => TestClock.adjust("1 second")), Effect.flatMap(Fiber.join))
      expect(errors).toEqual({
        healthy: [undefined, undefined],
        unavailable: ["connection refused", undefined],
        denied: ["permission denied", undefined],
        slow: [undefined, undefined],
        dying: ["internal error", undefined],
        unbuilt: ["not initialised", undefined],
        switched: ["loading", undefined],
        redis: [undefined, "authentication failed"]
      })
    }))
})
