// Redis replies and ioredis's own errors read into failure categories, which of them are the server's refusal, and
// which URLs ioredis can use.
import { describe, expect, it } from "@effect/vitest"
import { isRefusal, reasonOfRedisError, redisUrlProblem } from "../../src/layers/RedisErrors.js"

const withCode = (code: string, message = "x") => Object.assign(new Error(message), { code })

describe("Redis failure reasons", () => {
  it.each([
    [new Error("NOAUTH Authentication required."), "authentication failed"],
    [new Error("WRONGPASS invalid username-password pair or user is disabled."), "authentication failed"],
    [new Error("ERR invalid password"), "authentication failed"],
    [new Error("NOPERM this user has no permissions to run the 'select' command"), "permission denied"],
    [new Error("ERR DB index is out of range"), "database not found"],
    [new Error("ERR invalid DB index"), "database not found"],
    [new Error("ERR max number of clients reached"), "too many connections"],
    [
      new Error(
        "Command queue state error. If you can reproduce this, please report it. Last error: ERR max number of clients reached"
      ),
      "too many connections"
    ],
    [new Error("OOM command not allowed when used memory > 'maxmemory'."), "out of memory"],
    [new Error("LOADING Redis is loading the dataset in memory"), "loading"],
    [new Error("Command timed out"), "timeout"],
    [new Error("Connection is closed."), "connection closed"],
    [new Error("Stream isn't writeable and enableOfflineQueue options is false"), "not connected"],
    [withCode("ECONNREFUSED"), "connection refused"],
    [withCode("DEPTH_ZERO_SELF_SIGNED_CERT"), "certificate not trusted"],
    [new Error("something nobody has seen"), "unavailable"]
  ])("%s → %s", (error, reason) => {
    expect(reasonOfRedisError(error)).toBe(reason)
  })

  it("the server's refusals are told apart from network failures", () => {
    for (const reason of ["authentication failed", "database not found", "too many connections"] as const) {
      expect(isRefusal(reason)).toBe(true)
    }
    for (
      const reason of ["connection refused", "connection reset", "connection closed", "timeout", "loading"] as const
    ) {
      expect(isRefusal(reason)).toBe(false)
    }
  })

  it.each([
    ["redis://127.0.0.1:6379", true],
    ["redis://127.0.0.1:6379/", true],
    ["redis://:pw@127.0.0.1:6379/0", true],
    ["rediss://cache:6380/15", true],
    ["redis://cache/2?db=3", true],
    ["redis://:pw@127.0.0.1:6379/abc", false],
    ["redis://cache/-1", false],
    ["redis://cache/1.5", false],
    ["redis://cache/1/", false],
    ["redis://cache/%31", false],
    ["redis://cache/0?db=x", false]
  ])("%s usable by ioredis: %s", (url, usable) => {
    expect(redisUrlProblem(new URL(url)) === undefined).toBe(usable)
  })
})
