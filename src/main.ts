import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Layer from "effect/Layer"
import * as App from "./App.js"
import * as Server from "./http/Server.js"
import { Database } from "./layers/Database.js"
import * as Dependency from "./layers/Dependency.js"
import { Redis } from "./layers/Redis.js"
import { ReadinessSettings } from "./Readiness.js"
import { reportStartupFailure } from "./Startup.js"

App.make({
  dependencies: [
    Dependency.check(Database, Database.Live),
    Dependency.check(Redis, Redis.Live)
  ],
  settings: ReadinessSettings.Live,
  server: Server.Live
}).pipe(
  Layer.launch,
  reportStartupFailure,
  NodeRuntime.runMain({ disableErrorReporting: true })
)
