// The HTTP API of the probes: paths, schemas and the OpenAPI document.
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Schema from "effect/Schema"
import { CheckResult, ReadinessStatus } from "../Readiness.js"
import { StatusApi } from "./StatusApi.js"

export const healthzPath = "/healthz"
export const readyzPath = "/readyz"
export const openApiPath = "/openapi.json"

export const Health = Schema.Struct({ status: Schema.Literal("ok") })

export const ReadinessReport = Schema.Struct({
  status: ReadinessStatus,
  /** When the reported checks finished (ISO 8601). */
  checkedAt: Schema.String,
  checks: Schema.Record({ key: Schema.String, value: CheckResult }),
  /** How old the report was when it was served. */
  ageMs: Schema.Number
})

export class ProbesApi extends HttpApiGroup.make("probes")
  .add(
    HttpApiEndpoint.get("healthz", healthzPath).addSuccess(Health).annotate(
      OpenApi.Description,
      "Liveness: 200 while the process is alive. Touches no dependency."
    )
  )
  .add(
    HttpApiEndpoint.get("readyz", readyzPath).addSuccess(ReadinessReport).annotate(
      OpenApi.Description,
      "Readiness: always 200 while alive; `status` says whether every dependency is usable now."
    )
  )
{}

export class DashboardApi
  extends HttpApi.make("dashboard").add(ProbesApi).add(StatusApi).annotate(OpenApi.Title, "dashboard")
{}
