// The handler of the SLA report: JSON, or the status page for a browser.
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Status, StatusReport } from "../Status.js"
import { DashboardApi } from "./Api.js"
import { html, pageHeaders, prefersHtml } from "./StatusPage.js"

const page = HttpServerResponse.text(html, { contentType: "text/html; charset=utf-8", headers: pageHeaders })
const encode = Schema.encode(StatusReport)

export const StatusLive = HttpApiBuilder.group(
  DashboardApi,
  "status",
  (handlers) =>
    Effect.map(Status, (status) =>
      handlers.handle("status", ({ headers }) =>
        prefersHtml(headers.accept)
          ? Effect.succeed(page)
          : status.report.pipe(
            Effect.flatMap(encode),
            Effect.orDie,
            // One URL, two representations: a cache must key on Accept.
            Effect.map((body) =>
              HttpServerResponse.unsafeJson(body, { headers: { vary: "accept", "cache-control": "no-store" } })
            )
          )))
)
