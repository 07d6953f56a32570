// The HTTP API of the SLA report (its group joins DashboardApi, so it is in the OpenAPI document).
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Schema from "effect/Schema"
import { StatusReport } from "../Status.js"

export const statusPath = "/status"

/** The report is JSON; a client that rates `text/html` above JSON (a browser) gets the status page instead. */
export const StatusHeaders = Schema.Struct({ accept: Schema.optional(Schema.String) })

// The generator gives a response one content type; the page is the second one of the same 200.
const withHtmlPage = (operation: Record<string, unknown>): Record<string, unknown> => {
  const responses = operation.responses as Record<number, { content?: Record<string, unknown> }> | undefined
  const content = responses?.[200]?.content
  if (content !== undefined) content["text/html"] = { schema: { type: "string", description: "The status page." } }
  return operation
}

export class StatusApi extends HttpApiGroup.make("status").add(
  HttpApiEndpoint.get("status", statusPath).setHeaders(StatusHeaders).addSuccess(StatusReport).annotate(
    OpenApi.Description,
    "The SLA report from the process's memory: availability over the last hour, the last day and since start, the " +
      "last state changes and recent check latency, for the service and each dependency. Touches no dependency. " +
      "Answered as JSON unless `Accept` rates `text/html` above `application/json`, as a browser does: then the " +
      "status page, which polls this endpoint for JSON."
  ).annotate(OpenApi.Transform, withHtmlPage)
) {}
