// The HTTP API of the probes: paths, schemas and the OpenAPI document.
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Schema from "effect/Schema"
import { CheckResult, ReadinessStatus } from "../Readiness.js"
import { StatusApi } from "./StatusApi.js"

import { healthzPath, livezPath, readyzPath } from "./Liveness.js"

export { healthzPath, livezPath, readyzPath }
export const openApiPath = "/openapi.json"

export const Health = Schema.Struct({ status: Schema.Literal("ok") })

/** Tenants by state (TENANTS_FILE): every key always present, never an id. */
export const TenantCounts = Schema.Struct({
  up: Schema.Number,
  down: Schema.Number,
  "not initialised": Schema.Number
})

export const ReadinessReport = Schema.Struct({
  status: ReadinessStatus,
  /** When the reported checks finished (ISO 8601). */
  checkedAt: Schema.String,
  checks: Schema.Record({ key: Schema.String, value: CheckResult }),
  /** With tenants configured: how many are in each state, as the `tenants` check judged them. */
  tenants: Schema.optional(TenantCounts),
  /** How old the report was when it was served. */
  ageMs: Schema.Number
})

export const ReadinessParams = Schema.Struct({
  exclude: Schema.optional(Schema.Union(Schema.String, Schema.Array(Schema.String))),
  verbose: Schema.optional(Schema.String)
})

export class ProbesApi extends HttpApiGroup.make("probes")
  .add(
    HttpApiEndpoint.get("healthz", healthzPath).addSuccess(Health).annotate(
      OpenApi.Description,
      "Liveness: 200 while the process is alive. Touches no dependency."
    )
  )
  .add(
    HttpApiEndpoint.get("livez", livezPath).addSuccess(Health).annotate(
      OpenApi.Description,
      "Liveness under its Kubernetes name: the same answer as /healthz."
    )
  )
  .add(
    HttpApiEndpoint.get("readyz", readyzPath)
      .setUrlParams(ReadinessParams)
      .addSuccess(ReadinessReport)
      .annotate(
        OpenApi.Description,
        "Readiness: 200 while alive (503 when not ready with READYZ_NOT_READY_STATUS=503); `status` says whether " +
          "every dependency is usable now. `?exclude=name` leaves a check out, `?verbose` answers the Kubernetes " +
          "plain-text form, `Accept: application/health+json` the IETF health check format."
      )
  )
  .add(
    HttpApiEndpoint.get("readyzCheck", `${readyzPath}/:name`)
      .setPath(Schema.Struct({ name: Schema.String }))
      .setUrlParams(ReadinessParams)
      .addSuccess(ReadinessReport)
      .addError(Schema.Void, { status: 404 })
      .annotate(OpenApi.Description, "Readiness of one check (`database`, `redis`); 404 for an unknown check.")
  )
{}

export class DashboardApi
  extends HttpApi.make("dashboard").add(ProbesApi).add(StatusApi).annotate(OpenApi.Title, "dashboard")
{}
