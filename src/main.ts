import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Layer from "effect/Layer"
import * as App from "./App.js"
import * as Server from "./http/Server.js"
import { Database } from "./layers/Database.js"
import * as Dependency from "./layers/Dependency.js"
import { Redis } from "./layers/Redis.js"
import { LoggingLive } from "./Logging.js"
import { ProcessWarningsLive } from "./ProcessWarnings.js"
import { ReadinessSettings } from "./Readiness.js"
import { DrainOnSignal, ShutdownSettings } from "./Shutdown.js"
import { reportStartupFailure } from "./Startup.js"

DrainOnSignal.pipe(
  Layer.provideMerge(App.make({
    dependencies: [
      Dependency.check(Database, Database.Live),
      Dependency.check(Redis, Redis.Live)
    ],
    settings: Layer.merge(ReadinessSettings.Live, ShutdownSettings.Live),
    server: Server.Live
  })),
  Layer.provide(ProcessWarningsLive),
  Layer.provide(LoggingLive),
  Layer.launch,
  reportStartupFailure,
  NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true })
)
