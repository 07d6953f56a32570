// Chaos tenants: tenant targets whose database and Redis are the failing layers of `Database` and `Redis` (see
// Chaos.ts), for the chaos suite and for building many tenants in-process without a server (the bench).
import type * as Duration from "effect/Duration"
import type * as Layer from "effect/Layer"
import type * as Ref from "effect/Ref"
import { TenantTarget } from "../Tenants.js"
import type * as Chaos from "./Chaos.js"
import { Database } from "./Database.js"
import type { FailureReason } from "./Dependency.js"
import { Redis } from "./Redis.js"

/** How a chaos tenant's database behaves (its Redis is healthy unless `redis` says otherwise). */
export type Fault =
  | { readonly _tag: "Healthy" }
  | { readonly _tag: "Unavailable"; readonly reason?: FailureReason }
  | { readonly _tag: "Hanging" }
  | { readonly _tag: "Slow"; readonly delay: Duration.DurationInput }
  | { readonly _tag: "Dying" }
  | { readonly _tag: "FailingConstruction" }
  | { readonly _tag: "Switchable"; readonly state: Ref.Ref<Chaos.Switch> }

export const Healthy: Fault = { _tag: "Healthy" }
export const Unavailable = (reason?: FailureReason): Fault =>
  reason === undefined ? { _tag: "Unavailable" } : { _tag: "Unavailable", reason }
export const Hanging: Fault = { _tag: "Hanging" }
export const Slow = (delay: Duration.DurationInput): Fault => ({ _tag: "Slow", delay })
export const Dying: Fault = { _tag: "Dying" }
export const FailingConstruction: Fault = { _tag: "FailingConstruction" }
export const Switchable = (state: Ref.Ref<Chaos.Switch>): Fault => ({ _tag: "Switchable", state })

/** The chaos layers a dependency offers (`Database` and `Redis` both do, as statics). */
interface ChaosLayers<I> {
  readonly Test: Layer.Layer<I>
  readonly Unavailable: (reason?: FailureReason) => Layer.Layer<I>
  readonly Hanging: Layer.Layer<I>
  readonly Slow: (delay: Duration.DurationInput) => Layer.Layer<I>
  readonly Dying: Layer.Layer<I>
  readonly FailingConstruction: Layer.Layer<I>
  readonly Switchable: (state: Ref.Ref<Chaos.Switch>) => Layer.Layer<I>
}

const layerOf = <I>(layers: ChaosLayers<I>, fault: Fault): Layer.Layer<I> => {
  switch (fault._tag) {
    case "Healthy":
      return layers.Test
    case "Unavailable":
      return layers.Unavailable(fault.reason)
    case "Hanging":
      return layers.Hanging
    case "Slow":
      return layers.Slow(fault.delay)
    case "Dying":
      return layers.Dying
    case "FailingConstruction":
      return layers.FailingConstruction
    case "Switchable":
      return layers.Switchable(fault.state)
  }
}

/**
 * A chaos tenant: `TenantChaos.tenant("t1", TenantChaos.Hanging)` hangs on its database;
 * `TenantChaos.tenant("t2", TenantChaos.Healthy, TenantChaos.Unavailable("permission denied"))` fails on its Redis.
 */
export const tenant = (id: string, database: Fault, redis: Fault = Healthy): TenantTarget =>
  TenantTarget.make(id, { database: layerOf(Database, database), redis: layerOf(Redis, redis) })
