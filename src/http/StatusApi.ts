// The HTTP API of the SLA report (its group joins DashboardApi, so it is in the OpenAPI document).
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import { StatusReport } from "../Status.js"

export const statusPath = "/status"

export class StatusApi extends HttpApiGroup.make("status").add(
  HttpApiEndpoint.get("status", statusPath).addSuccess(StatusReport).annotate(
    OpenApi.Description,
    "The SLA report from the process's memory: availability over the last hour, the last day and since start, the " +
      "last state changes and recent check latency, for the service and each dependency. Touches no dependency."
  )
) {}
