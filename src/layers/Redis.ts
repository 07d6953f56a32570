// Redis as a service: one ioredis client, closed on shutdown, and a `ping` for readiness that never waits on
// ioredis's offline queue or retries.
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { Redis as IORedis } from "ioredis"
import * as AppConfig from "../AppConfig.js"
import * as Chaos from "./Chaos.js"
import { type FailureReason, orNotInitialised } from "./Dependency.js"
import { reasonOfRedisError } from "./RedisErrors.js"

export class RedisUnavailable extends Data.TaggedError("RedisUnavailable")<{
  readonly reason: FailureReason
  readonly cause?: unknown
}> {}

export interface RedisOptions {
  readonly url: Redacted.Redacted
  /** Bounds a connection attempt and a command underneath the probe. */
  readonly timeout: Duration.DurationInput
  /** The longest pause between reconnection attempts while Redis is down. */
  readonly maxReconnectDelay?: Duration.DurationInput
}

class RedisTimeout extends Error {
  readonly code = "ETIMEDOUT"
  constructor(millis: number) {
    super(`Redis did not answer within ${millis} ms`)
  }
}

const makeRedis = (options: RedisOptions) =>
  Effect.gen(function*() {
    const timeoutMillis = Math.max(1, Math.round(Duration.toMillis(options.timeout)))
    const maxReconnectDelay = Duration.toMillis(options.maxReconnectDelay ?? Duration.millis(250))
    const client = yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          new IORedis(Redacted.value(options.url), {
            // Fail at once while disconnected instead of queueing, and never replay a command after a reconnect:
            // a readiness answer must describe the connection as it is now.
            enableOfflineQueue: false,
            maxRetriesPerRequest: 0,
            autoResendUnfulfilledCommands: false,
            // The ready check (INFO) has no timeout of its own and can leave the client stuck in "connect"; the
            // PING below is the readiness check instead.
            enableReadyCheck: false,
            // After connecting, ioredis sends CLIENT SETINFO and turns ready only once both replies are in, without
            // checking that it is still the same connection: one cut in between leaves the client "ready" on a closed
            // socket, refusing to reconnect, for good. A SETINFO swallowed by a hung network also stays in the reply
            // queue, so the next PING is paired with the wrong reply and costs one more timeout. Without them, ready
            // follows the TCP connect at once and PING stays the only command on the wire.
            disableClientInfo: true,
            connectTimeout: timeoutMillis,
            commandTimeout: timeoutMillis,
            retryStrategy: (attempt) => Math.min(attempt * 50, maxReconnectDelay)
          }),
        catch: (cause) => new RedisUnavailable({ reason: "not initialised", cause })
      }),
      // QUIT lets Redis finish what it has; it can reject or hang on a broken connection, so it is bounded and
      // the socket is closed regardless.
      (client) =>
        Effect.tryPromise(() => client.status === "ready" ? client.quit() : Promise.resolve("OK")).pipe(
          Effect.timeoutOption("1 second"),
          Effect.ignore,
          Effect.ensuring(Effect.sync(() => client.disconnect()))
        )
    )

    let lastError: unknown = undefined
    // Without a listener every failed reconnection attempt is reported as an unhandled 'error' event.
    client.on("error", (error: unknown) => {
      lastError = error
    })
    client.on("ready", () => {
      lastError = undefined
    })

    // A command that timed out leaves its reply (or its request) lost on the wire; ioredis would pair the next
    // reply with it forever after, so the connection is dropped and made anew. disconnect() alone ends the socket
    // and waits for the server to close its side, which a hung server never does: the socket is destroyed at once.
    const resynchronise = (error: RedisTimeout) => {
      lastError = error
      client.disconnect(true)
      client.stream?.destroy()
    }

    const withDeadline = <A>(start: (settle: (cancel: () => void) => void) => Promise<A>): Promise<A> =>
      new Promise<A>((resolve, reject) => {
        let cancel = () => {}
        const timer = setTimeout(() => {
          cancel()
          const error = new RedisTimeout(timeoutMillis)
          resynchronise(error)
          reject(error)
        }, timeoutMillis)
        start((cancel_) => {
          cancel = cancel_
        }).then(
          (value) => {
            clearTimeout(timer)
            resolve(value)
          },
          (error: unknown) => {
            clearTimeout(timer)
            if (reasonOfRedisError(error) === "timeout") resynchronise(new RedisTimeout(timeoutMillis))
            reject(error)
          }
        )
      })

    const firstConnection = (onCancel: (cancel: () => void) => void) =>
      new Promise<void>((resolve, reject) => {
        const cleanup = () => {
          client.off("ready", onReady)
          client.off("error", onError)
        }
        const onReady = () => {
          cleanup()
          resolve()
        }
        const onError = (error: unknown) => {
          cleanup()
          reject(error)
        }
        client.on("ready", onReady)
        client.on("error", onError)
        onCancel(cleanup)
      })

    const pingNow = async (): Promise<void> => {
      switch (client.status) {
        case "ready": {
          // A connection that failed since it became ready says why through `lastError`. One that simply closed
          // under the PING fails it with MaxRetriesPerRequestError (maxRetriesPerRequest is 0), which names no cause.
          await withDeadline(() => client.ping()).catch((error: unknown) => {
            throw lastError ?? (error instanceof Error && error.name === "MaxRetriesPerRequestError"
              ? new Error("Connection is closed.", { cause: error })
              : error)
          })
          return
        }
        case "wait":
        case "connecting":
        case "connect":
        case "reconnecting": {
          // While it is down, report why at once; only the very first connection is worth waiting for.
          if (lastError !== undefined) throw lastError
          await withDeadline(firstConnection)
          await withDeadline(() => client.ping())
          return
        }
        default:
          throw new Error("Redis client is not connected")
      }
    }

    return Redis.of({
      ping: Effect.tryPromise({
        try: pingNow,
        catch: (cause) => new RedisUnavailable({ reason: reasonOfRedisError(cause), cause })
      }).pipe(Effect.withSpan("Redis.ping"))
    })
  })

export class Redis extends Context.Tag("dashboard/Redis")<Redis, {
  /** A real `PING` on the client's connection. */
  readonly ping: Effect.Effect<void, RedisUnavailable>
}>() {
  static readonly NotInitialised = Redis.of({
    ping: Effect.fail(new RedisUnavailable({ reason: "not initialised" }))
  })

  /** Never fails and never waits on the network while it is built: the client connects in the background. */
  static readonly layer = (options: RedisOptions): Layer.Layer<Redis> =>
    orNotInitialised(Redis, Layer.scoped(Redis, makeRedis(options)), Redis.NotInitialised)

  static readonly Live: Layer.Layer<Redis, ConfigError.ConfigError> = Layer.unwrapEffect(
    Effect.map(Config.all({ url: AppConfig.redisUrl, timeout: AppConfig.readinessTimeout }), Redis.layer)
  )

  private static readonly chaos = Chaos.make(Redis, (reason) => new RedisUnavailable({ reason }))
  /** A healthy Redis that touches no server. */
  static readonly Test = Redis.chaos.Healthy
  static readonly Unavailable = Redis.chaos.Unavailable
  static readonly Hanging = Redis.chaos.Hanging
  static readonly Slow = Redis.chaos.Slow
  static readonly Dying = Redis.chaos.Dying
  static readonly FailingConstruction = Redis.chaos.FailingConstruction
  static readonly Switchable = Redis.chaos.Switchable
}
