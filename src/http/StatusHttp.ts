// The handler of the SLA report: JSON, or the status page for a browser.
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Status, StatusReport } from "../Status.js"
import { DashboardApi } from "./Api.js"
import { html, pageHeaders, prefersHtml } from "./StatusPage.js"
import { statusTokenOf, unauthorizedAnswer } from "./StatusToken.js"

const page = HttpServerResponse.text(html, { contentType: "text/html; charset=utf-8", headers: pageHeaders })
const encode = Schema.encode(StatusReport)

// The page itself names no tenant (it polls the JSON, which needs the token).
const unauthorizedResponse = HttpServerResponse.text(unauthorizedAnswer.body, {
  status: unauthorizedAnswer.status,
  contentType: "application/json",
  headers: { "www-authenticate": "Bearer", "cache-control": "no-store" }
})

export const StatusLive = HttpApiBuilder.group(
  DashboardApi,
  "status",
  (handlers) =>
    Effect.map(Effect.all([Status, statusTokenOf]), ([status, token]) => {
      const json = status.report.pipe(
        Effect.flatMap(encode),
        Effect.orDie,
        // One URL, two representations: a cache must key on Accept.
        Effect.map((body) =>
          HttpServerResponse.unsafeJson(body, { headers: { vary: "accept", "cache-control": "no-store" } })
        )
      )
      return handlers.handle("status", ({ headers }) =>
        prefersHtml(headers.accept)
          ? Effect.succeed(page)
          : Effect.flatMap(
            HttpServerRequest.HttpServerRequest,
            (request) => token.authorized(request.headers.authorization) ? json : Effect.succeed(unauthorizedResponse)
          ))
    })
)
