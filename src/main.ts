import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as AppConfig from "./AppConfig.js"
import * as Edge from "./Edge.js"
import { Listener } from "./http/Listener.js"
import { bootRoutes } from "./http/Liveness.js"
import { LoggingLive } from "./Logging.js"
import { ProcessWarningsLive } from "./ProcessWarnings.js"
import { DrainOnSignal, ShutdownSettings } from "./Shutdown.js"
import { reportStartupFailure } from "./Startup.js"

// The listener opens first, with liveness and a readiness failing closed, and the rest of the service is loaded
// after: an orchestrator scaling out waits on the first /healthz, and reading the whole bundle costs ~150 ms.
const ListenerLive = Layer.unwrapEffect(
  Effect.map(
    Effect.all([AppConfig.notReadyStatus, Effect.clock]),
    ([notReadyStatus, clock]) => Listener.Live(bootRoutes(notReadyStatus, () => clock.unsafeCurrentTimeMillis()))
  )
)
const ServiceLive = Layer.unwrapEffect(Effect.map(Effect.promise(() => import("./Service.js")), (m) => m.ServiceLive))

DrainOnSignal.pipe(
  Layer.provideMerge(ServiceLive),
  Layer.provideMerge(Edge.make(ListenerLive, ShutdownSettings.Live)),
  Layer.provide(ProcessWarningsLive),
  Layer.provide(LoggingLive),
  Layer.launch,
  reportStartupFailure,
  NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true })
)
