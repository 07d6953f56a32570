// The service's logger: one JSON object a line in production, pretty at a terminal (LOG_FORMAT overrides), at
// LOG_LEVEL and above. Log lines are state changes and shutdown phases, never one per probe, never a secret.
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as AppConfig from "./AppConfig.js"

export const LoggingLive = Layer.unwrapEffect(
  Effect.map(Config.all({ format: AppConfig.logFormat, level: AppConfig.logLevel }), ({ format, level }) => {
    const json = Option.getOrElse(format, () => (process.stdout.isTTY ? "pretty" : "json")) === "json"
    return Layer.merge(json ? Logger.json : Logger.pretty, Logger.minimumLogLevel(level))
  })
)
