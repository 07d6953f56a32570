// The failure categories, exhaustively: every Node code, every pattern and its anchors, the cause-chain walk's
// limits, which reasons are refusals, and what a layer that cannot be built logs.
import { describe, expect, it } from "@effect/vitest"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import { Database, DatabaseUnavailable } from "../../src/layers/Database.js"
import {
  byMessage,
  check,
  codeOf,
  type FailureReason,
  failureReasons,
  messageOf,
  networkReasons,
  nodeReason,
  orNotInitialised,
  reasonOf,
  reasonOfWith
} from "../../src/layers/Dependency.js"
import { classReasons, reasonOfPostgresError, sqlstateReasons } from "../../src/layers/PostgresErrors.js"
import { Redis, RedisUnavailable } from "../../src/layers/Redis.js"
import { isRefusal, reasonOfRedisError, redisUrlProblem } from "../../src/layers/RedisErrors.js"

const withCode = (code: unknown, message = "x") => Object.assign(new Error(message), { code })

describe("the categories", () => {
  it("are the documented list, in order", () => {
    expect(failureReasons).toEqual([
      "connection refused",
      "connection reset",
      "connection closed",
      "timeout",
      "host not found",
      "authentication failed",
      "permission denied",
      "database not found",
      "schema not found",
      "too many connections",
      "out of memory",
      "disk full",
      "insufficient resources",
      "certificate not trusted",
      "tls not supported",
      "tls handshake failed",
      "shutting down",
      "loading",
      "not connected",
      "not initialised",
      "no serviceable tenant",
      "tenant unavailable",
      "internal error",
      "unavailable"
    ])
  })

  it("the network's categories are the ones a reconnection may retry; every other one is a refusal but loading", () => {
    expect([...networkReasons]).toEqual([
      "connection refused",
      "connection reset",
      "connection closed",
      "timeout",
      "host not found",
      "not connected"
    ])
    const refusals = failureReasons.filter(isRefusal)
    expect(refusals).toEqual(failureReasons.filter((r) => !networkReasons.has(r) && r !== "loading"))
    expect(refusals).toContain("authentication failed")
    expect(refusals).not.toContain("loading")
    expect(refusals).toHaveLength(failureReasons.length - 7)
  })
})

describe("Node's codes", () => {
  it.each([
    "DEPTH_ZERO_SELF_SIGNED_CERT",
    "SELF_SIGNED_CERT_IN_CHAIN",
    "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    "UNABLE_TO_GET_ISSUER_CERT",
    "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
    "CERT_HAS_EXPIRED",
    "CERT_NOT_YET_VALID",
    "CERT_REVOKED",
    "CERT_UNTRUSTED",
    "CERT_REJECTED",
    "CERT_SIGNATURE_FAILURE",
    "ERR_TLS_CERT_ALTNAME_INVALID",
    "HOSTNAME_MISMATCH"
  ])("%s → certificate not trusted", (code) => {
    expect(nodeReason(withCode(code))).toBe("certificate not trusted")
  })

  it.each<[string, FailureReason | undefined]>([
    ["ECONNREFUSED", "connection refused"],
    ["ECONNRESET", "connection reset"],
    ["EPIPE", "connection reset"],
    ["ETIMEDOUT", "timeout"],
    ["ENOTFOUND", "host not found"],
    ["EAI_AGAIN", "host not found"],
    ["EPROTO", "tls handshake failed"],
    ["ERR_SSL_WRONG_VERSION_NUMBER", "tls handshake failed"],
    ["ERR_TLS_HANDSHAKE_TIMEOUT", "tls handshake failed"],
    ["ERR_SS", undefined],
    ["XERR_SSL_X", undefined],
    ["XERR_TLS_X", undefined],
    // A name every object has is not a code Node knows.
    ["toString", undefined],
    ["constructor", undefined],
    ["EHOSTUNREACH", undefined]
  ])("%s → %s", (code, reason) => {
    expect(nodeReason(withCode(code))).toBe(reason)
  })

  it("a code must be a string on an object", () => {
    expect(codeOf(withCode("E1"))).toBe("E1")
    expect(codeOf(withCode(5))).toBeUndefined()
    expect(codeOf({ code: "E2" })).toBe("E2")
    expect(codeOf({})).toBeUndefined()
    expect(codeOf(null)).toBeUndefined()
    expect(codeOf("ECONNREFUSED")).toBeUndefined()
    expect(nodeReason({ code: 1 })).toBeUndefined()
  })

  it("a message must be a string on an object", () => {
    expect(messageOf(new Error("m"))).toBe("m")
    expect(messageOf({ message: 5 })).toBe("")
    expect(messageOf({ message: "n" })).toBe("n")
    expect(messageOf(null)).toBe("")
    expect(messageOf("just text")).toBe("")
  })

  it("byMessage asks nothing of an error without a message, and answers the first pattern that matches", () => {
    const classify = byMessage([[/a/, "timeout"], [/b/, "loading"], [/^$/, "disk full"]])
    expect(classify(new Error("b a"))).toBe("timeout")
    expect(classify(new Error("b"))).toBe("loading")
    expect(classify(new Error("c"))).toBeUndefined()
    expect(classify(new Error(""))).toBeUndefined()
    expect(classify({})).toBeUndefined()
  })
})

describe("the cause chain", () => {
  const nested = (depth: number) => {
    let error: unknown = withCode("ECONNRESET")
    for (let i = 0; i < depth; i++) error = new Error(`level ${i}`, { cause: error })
    return error
  }

  it("is followed five causes deep, not further", () => {
    expect(reasonOf(nested(5))).toBe("connection reset")
    expect(reasonOf(nested(6))).toBe("unavailable")
  })

  it("an aggregated connect error is read from its first attempt; an empty one is unavailable", () => {
    expect(reasonOf(new AggregateError([withCode("ETIMEDOUT"), withCode("ECONNREFUSED")]))).toBe("timeout")
    expect(reasonOf(new AggregateError([], "x", { cause: withCode("EPIPE") }))).toBe("connection reset")
    expect(reasonOf(new AggregateError([]))).toBe("unavailable")
  })

  it("an error that is its own cause, or has none, or a null one, ends the walk", () => {
    const own: Error & { cause?: unknown } = new Error("self")
    own.cause = own
    expect(reasonOf(own)).toBe("unavailable")
    expect(reasonOf(new Error("x", { cause: null }))).toBe("unavailable")
    expect(reasonOf(null)).toBe("unavailable")
    expect(reasonOf({ cause: withCode("ENOTFOUND") })).toBe("host not found")
  })

  it("the driver's classifier comes before Node's code on the same error", () => {
    const classify = reasonOfWith(() => "loading")
    expect(classify(withCode("ECONNREFUSED"))).toBe("loading")
  })
})

describe("PostgreSQL", () => {
  it("every SQLSTATE listed and every class is read as the table says", () => {
    for (const [code, reason] of Object.entries(sqlstateReasons)) {
      expect(reasonOfPostgresError(withCode(code)), code).toBe(reason)
    }
    for (const [prefix, reason] of Object.entries(classReasons)) {
      expect(reasonOfPostgresError(withCode(`${prefix}ZZZ`)), prefix).toBe(reason)
    }
    expect(Object.keys(classReasons).sort()).toEqual(["08", "28", "3D", "53", "57"])
    expect(reasonOfPostgresError(withCode("28ZZZ"))).toBe("authentication failed")
    expect(reasonOfPostgresError(withCode("3DZZZ"))).toBe("database not found")
  })

  it("only a five-character upper-case code is a SQLSTATE; anything else is read from the message", () => {
    expect(reasonOfPostgresError(withCode("53300", "Connection terminated"))).toBe("too many connections")
    expect(reasonOfPostgresError(withCode("5330", "Connection terminated"))).toBe("connection closed")
    expect(reasonOfPostgresError(withCode("533000", "Connection terminated"))).toBe("connection closed")
    expect(reasonOfPostgresError(withCode("53p01", "Connection terminated"))).toBe("connection closed")
    expect(reasonOfPostgresError(withCode("x53300", "Connection terminated"))).toBe("connection closed")
    expect(reasonOfPostgresError(withCode("ECONNREFUSED", "connect ECONNREFUSED"))).toBe("connection refused")
  })

  it("57P03 reads shutting down only when its message says so, in any case", () => {
    expect(reasonOfPostgresError(withCode("57P03", "the database system is SHUTTING DOWN"))).toBe("shutting down")
    expect(reasonOfPostgresError(withCode("57P03", "the database system is in recovery mode"))).toBe("loading")
    expect(reasonOfPostgresError({ code: "57P03" })).toBe("loading")
    expect(reasonOfPostgresError(withCode("57P01", "shutting down"))).toBe("shutting down")
    expect(reasonOfPostgresError(withCode("08006", "the server is shutting down"))).toBe("connection closed")
  })

  it.each<[string, FailureReason]>([
    ["timeout exceeded when trying to connect", "timeout"],
    ["Query read timeout", "timeout"],
    ["Connection timed out", "timeout"],
    ["Connection TIMED OUT", "timeout"],
    ["it timedout", "timeout"],
    ["The server does not support SSL connections", "tls not supported"],
    ["THE SERVER DOES NOT SUPPORT SSL CONNECTIONS", "tls not supported"],
    ["Connection terminated unexpectedly", "connection closed"],
    ["connection TERMINATED", "connection closed"],
    ["Client has encountered a connection error and is not queryable; ended by the other party", "connection closed"],
    ["socket hang up", "connection closed"],
    ["SOCKET HANG UP", "connection closed"],
    ["terminated", "unavailable"]
  ])("pg says %s → %s", (message, reason) => {
    expect(reasonOfPostgresError(new Error(message))).toBe(reason)
  })
})

describe("Redis", () => {
  it.each<[string, FailureReason]>([
    ["noauth authentication required", "authentication failed"],
    ["wrongpass", "authentication failed"],
    ["ERR INVALID PASSWORD", "authentication failed"],
    ["ERR invalid username-password pair", "authentication failed"],
    ["NOPERM no", "permission denied"],
    ["ERR NOPERM no", "unavailable"],
    ["noperm no", "unavailable"],
    ["ERR db index is out of range", "database not found"],
    ["ERR INVALID DB INDEX", "database not found"],
    ["ERR MAX NUMBER OF CLIENTS REACHED", "too many connections"],
    ["OOM command not allowed", "out of memory"],
    ["OOMx", "unavailable"],
    ["ERR OOM command", "unavailable"],
    ["oom command", "unavailable"],
    ["LOADING dataset", "loading"],
    ["ERR LOADING", "unavailable"],
    ["loading dataset", "unavailable"],
    ["Command timed out", "timeout"],
    ["Command timedout", "timeout"],
    ["Connection time out", "timeout"],
    ["connect Timeout", "timeout"],
    ["CONNECTION IS CLOSED.", "connection closed"],
    ["socket hang up", "connection closed"],
    ["the connection was ended by the other party", "connection closed"],
    ["Stream isn't writeable and enableOfflineQueue options is false", "not connected"],
    ["STREAM ISN'T WRITEABLE", "not connected"],
    ["Redis client is not connected", "not connected"],
    ["NOT CONNECTED", "not connected"]
  ])("%s → %s", (message, reason) => {
    expect(reasonOfRedisError(new Error(message))).toBe(reason)
  })

  it("the first pattern wins: a refusal named in a timeout's message is still the refusal", () => {
    expect(reasonOfRedisError(new Error("NOAUTH timeout"))).toBe("authentication failed")
    expect(reasonOfRedisError(new Error("LOADING timed out"))).toBe("loading")
  })

  it.each<[string, string | undefined]>([
    ["redis://h", undefined],
    ["redis://h/", undefined],
    ["redis://h/123456789", undefined],
    ["redis://h/1234567890", "must name its database as a whole number ≥ 0 (redis://host:port/0)"],
    ["redis://h/x1", "must name its database as a whole number ≥ 0 (redis://host:port/0)"],
    ["redis://h/1x", "must name its database as a whole number ≥ 0 (redis://host:port/0)"],
    ["redis://h//1", "must name its database as a whole number ≥ 0 (redis://host:port/0)"],
    ["redis://h?db=123456789", undefined],
    ["redis://h?db=1234567890", "must give db as a whole number ≥ 0"],
    ["redis://h?db=", "must give db as a whole number ≥ 0"],
    ["redis://h?db=a1", "must give db as a whole number ≥ 0"],
    ["redis://h?db=1a", "must give db as a whole number ≥ 0"],
    ["redis://h/1?db=0", undefined]
  ])("%s: %s", (url, problem) => {
    expect(redisUrlProblem(new URL(url))).toBe(problem)
  })
})

describe("a dependency layer that cannot be built", () => {
  interface Line {
    readonly level: string
    readonly message: string
    readonly annotations: Record<string, unknown>
  }
  const capture = (lines: Array<Line>) =>
    Logger.replace(
      Logger.defaultLogger,
      Logger.make(({ annotations, logLevel, message }) =>
        lines.push({
          level: logLevel.label,
          message: String(Array.isArray(message) ? message[0] : message),
          annotations: Object.fromEntries(annotations)
        })
      )
    )

  it.scoped("is replaced by its NotInitialised service, with one error line naming the error's tag and category", () => {
    const lines: Array<Line> = []
    return Effect.gen(function*() {
      const failing = Layer.fail(new DatabaseUnavailable({ reason: "not initialised", cause: withCode("ENOTFOUND") }))
      const built = yield* check(Database, failing)
      expect(built.name).toBe("database")
      expect(yield* Effect.flip(built.ping)).toMatchObject({ _tag: "DatabaseUnavailable", reason: "not initialised" })
      expect(lines).toEqual([{
        level: "ERROR",
        message: "dashboard/Database could not be initialised; it is reported not ready",
        annotations: { error: "DatabaseUnavailable", reason: "host not found" }
      }])
    }).pipe(Effect.provide(capture(lines)))
  })

  it.scoped("a defect is logged with its class name; a string with its type", () => {
    const lines: Array<Line> = []
    return Effect.gen(function*() {
      yield* check(Redis, Layer.effect(Redis, Effect.die(new TypeError("no"))))
      yield* check(Redis, Layer.effect(Redis, Effect.die("a string")))
      expect(lines.map((line) => line.annotations)).toEqual([
        { error: "TypeError", reason: "unavailable" },
        { error: "string", reason: "unavailable" }
      ])
      expect(lines[0]!.message).toBe("dashboard/Redis could not be initialised; it is reported not ready")
    }).pipe(Effect.provide(capture(lines)))
  })

  it.scoped("a healthy layer is used as it is, and nothing is logged", () => {
    const lines: Array<Line> = []
    return Effect.gen(function*() {
      const built = yield* check(Redis, Redis.Test)
      expect(built.name).toBe("redis")
      yield* built.ping
      expect(lines).toEqual([])
    }).pipe(Effect.provide(capture(lines)))
  })

  it.effect("invalid configuration still stops the service", () =>
    Effect.gen(function*() {
      const invalid = ConfigError.InvalidData(["REDIS_URL"], "bad")
      const exit = yield* Effect.exit(
        Layer.build(orNotInitialised(Redis, Layer.fail(invalid), Redis.NotInitialised)).pipe(Effect.scoped)
      )
      expect(exit).toEqual(Exit.fail(invalid))
      const other = yield* Layer.build(
        orNotInitialised(Redis, Layer.fail(new RedisUnavailable({ reason: "timeout" })), Redis.NotInitialised)
      ).pipe(Effect.map(Context.get(Redis)), Effect.scoped)
      expect(other).toBe(Redis.NotInitialised)
    }))
})
