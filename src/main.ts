import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Layer from "effect/Layer"
import * as App from "./App.js"
import * as Server from "./http/Server.js"
import { Database } from "./layers/Database.js"
import { Redis } from "./layers/Redis.js"
import { ProcessWarningsLive } from "./ProcessWarnings.js"
import { ReadinessSettings } from "./Readiness.js"
import { reportStartupFailure } from "./Startup.js"

App.make({
  database: Database.Live,
  redis: Redis.Live,
  settings: ReadinessSettings.Live,
  server: Server.Live
}).pipe(
  Layer.provide(ProcessWarningsLive),
  Layer.launch,
  reportStartupFailure,
  NodeRuntime.runMain({ disableErrorReporting: true })
)
