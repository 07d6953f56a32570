// The handler of the SLA report.
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as Effect from "effect/Effect"
import { Status } from "../Status.js"
import { DashboardApi } from "./Api.js"

export const StatusLive = HttpApiBuilder.group(
  DashboardApi,
  "status",
  (handlers) => Effect.map(Status, (status) => handlers.handle("status", () => status.report))
)
