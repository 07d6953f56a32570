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

const databaseLayer = (fault: Fault): Layer.Layer<Database> => {
  switch (fault._tag) {
    case "Healthy":
      return Database.Test
    case "Unavailable":
      return Database.Unavailable(fault.reason)
    case "Hanging":
      return Database.Hanging
    case "Slow":
      return Database.Slow(fault.delay)
    case "Dying":
      return Database.Dying
    case "FailingConstruction":
      return Database.FailingConstruction
    case "Switchable":
      return Database.Switchable(fault.state)
  }
}

const redisLayer = (fault: Fault): Layer.Layer<Redis> => {
  switch (fault._tag) {
    case "Healthy":
      return Redis.Test
    case "Unavailable":
      return Redis.Unavailable(fault.reason)
    case "Hanging":
      return Redis.Hanging
    case "Slow":
      return Redis.Slow(fault.delay)
    case "Dying":
      return Redis.Dying
    case "FailingConstruction":
      return Redis.FailingConstruction
    case "Switchable":
      return Redis.Switchable(fault.state)
  }
}

/**
 * A chaos tenant: `TenantChaos.tenant("t1", TenantChaos.Hanging)` hangs on its database;
 * `TenantChaos.tenant("t2", TenantChaos.Healthy, TenantChaos.Unavailable("permission denied"))` fails on its Redis.
 */
export const tenant = (id: string, database: Fault, redis: Fault = Healthy): TenantTarget =>
  TenantTarget.make(id, { database: databaseLayer(database), redis: redisLayer(redis) })
