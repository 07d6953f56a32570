// Redis as a service: one ioredis client, closed on shutdown, and a `ping` for readiness that never waits on
// ioredis's offline queue or retries.
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { Redis as IORedis } from "ioredis"
import * as AppConfig from "../AppConfig.js"
import { ReadinessSettings } from "../Readiness.js"
import * as Chaos from "./Chaos.js"
import { type FailureReason } from "./Dependency.js"
import { isRefusal, reasonOfRedisError, redisUrlProblem } from "./RedisErrors.js"

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
  /**
   * When given, the check runs `EXISTS <key>` instead of `PING`: it proves the connection's ACL user may use a key
   * command on that key's prefix (a tenant's), so a missing permission reads `permission denied`.
   */
  readonly probeKey?: string
  /** Connect on the first check instead of at once (a tenant's client). */
  readonly lazy?: boolean
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
    // Why the client last failed, and why the server turned the current connection away (its AUTH or SELECT failed,
    // or it had no room for another client), if it did.
    let lastError: unknown = undefined
    let refused: unknown = undefined
    // Network failures since a PING last went through: ioredis's own counter restarts at every TCP connect, so a
    // server that accepts and then says no would be retried every 50 ms forever.
    let failedAttempts = 0
    let released = false
    const client = yield* Effect.acquireRelease(
      Effect.try({
        try: () => {
          const url = Redacted.value(options.url)
          const problem = redisUrlProblem(new URL(url))
          if (problem !== undefined) throw new Error(`REDIS_URL ${problem}`)
          return new IORedis(url, {
            // Fail at once while disconnected instead of queueing, and never replay a command after a reconnect:
            // a readiness answer must describe the connection as it is now.
            enableOfflineQueue: false,
            lazyConnect: options.lazy ?? false,
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
            // Reconnect quickly after a network failure; after a refusal, stop: the next readiness round tries once.
            retryStrategy: () => {
              if (released || (lastError !== undefined && isRefusal(reasonOfRedisError(lastError)))) return null
              failedAttempts += 1
              return Math.min(failedAttempts * 50, maxReconnectDelay)
            }
          })
        },
        catch: (cause) => new RedisUnavailable({ reason: "not initialised", cause })
      }),
      // QUIT lets Redis finish what it has; it can reject or hang on a broken connection, so it is bounded (and made
      // interruptible, as a release runs uninterruptibly and the bound could not otherwise abandon it) and the socket
      // is closed regardless: destroyed, as a hung server never closes its side (see resynchronise).
      (client) =>
        Effect.sync(() => {
          released = true
        }).pipe(
          Effect.zipRight(
            Effect.tryPromise(() => client.status === "ready" ? client.quit() : Promise.resolve("OK")).pipe(
              Effect.interruptible,
              Effect.timeoutOption("1 second"),
              Effect.ignore,
              Effect.ensuring(Effect.sync(() => {
                client.disconnect()
                client.stream?.destroy()
              }))
            )
          )
        )
    )

    // Without a listener every failed reconnection attempt is reported as an unhandled 'error' event. ioredis calls
    // a connection ready as soon as it has sent AUTH and SELECT, before their replies; a failed SELECT only reaches
    // this listener, and the connection would go on answering PING. Such a connection is closed here, and not
    // reopened before the next round (see retryStrategy).
    client.on("error", (error: unknown) => {
      lastError = error
      if (isRefusal(reasonOfRedisError(error))) {
        refused = error
        if (client.status === "connect" || client.status === "ready") client.disconnect(false)
      }
    })
    client.on("connect", () => {
      refused = undefined
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

    // A PING that proves the connection usable as configured. AUTH and SELECT went out ahead of it on the same
    // connection, so their replies came first; their failures have reached the 'error' listener by the next turn of
    // the event loop.
    const probeKey = options.probeKey
    const probe = (): Promise<unknown> => probeKey === undefined ? client.ping() : client.exists(probeKey)
    const verifiedPing = async (): Promise<void> => {
      const failure = await withDeadline(probe).then(
        () => undefined,
        (error: unknown) => ({ error })
      )
      await new Promise<void>((resolve) => setImmediate(resolve))
      if (refused !== undefined) throw refused
      if (failure !== undefined) {
        // A connection that failed since it became ready says why through `lastError`. One that simply closed
        // under the PING fails it with MaxRetriesPerRequestError (maxRetriesPerRequest is 0), which names no cause.
        const error = failure.error
        throw lastError ?? (error instanceof Error && error.name === "MaxRetriesPerRequestError"
          ? new Error("Connection is closed.", { cause: error })
          : error)
      }
      failedAttempts = 0
    }

    const pingNow = async (): Promise<void> => {
      // Released between two tries, the client stays "reconnecting" for good (disconnect() closes no socket there),
      // and a check would wait out its budget for a connection that never comes.
      if (released) throw new Error("Redis client is not connected")
      switch (client.status) {
        case "ready": {
          if (refused !== undefined) throw refused
          return verifiedPing()
        }
        case "wait": {
          // A lazy client's first check opens its connection.
          await withDeadline(() => client.connect()).catch((error: unknown) => {
            throw lastError ?? error
          })
          return verifiedPing()
        }
        case "connecting":
        case "connect":
        case "reconnecting": {
          // While it is down, report why at once; only the very first connection is worth waiting for.
          if (lastError !== undefined) throw lastError
          await withDeadline(firstConnection)
          return verifiedPing()
        }
        case "end": {
          // ioredis stopped reconnecting after the server refused the connection: each round tries once more.
          lastError = undefined
          refused = undefined
          await withDeadline(() => client.connect()).catch((error: unknown) => {
            throw lastError ?? error
          })
          return verifiedPing()
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
  static readonly checkName = "redis"

  static readonly NotInitialised = Redis.of({
    ping: Effect.fail(new RedisUnavailable({ reason: "not initialised" }))
  })

  /** Never waits on the network while it is built: the client connects in the background. */
  static readonly layer = (options: RedisOptions): Layer.Layer<Redis, RedisUnavailable> =>
    Layer.scoped(Redis, makeRedis(options))

  /** REDIS_URL, with the readiness budget bounding connections and commands. */
  static readonly Live: Layer.Layer<Redis, ConfigError.ConfigError | RedisUnavailable, ReadinessSettings> = Layer
    .unwrapEffect(
      Effect.map(
        Effect.all([AppConfig.redisUrl, ReadinessSettings]),
        ([url, settings]) => Redis.layer({ url, timeout: settings.timeout })
      )
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
