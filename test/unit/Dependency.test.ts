import { describe, expect, it } from "@effect/vitest"
import { reasonOf } from "../../src/layers/Dependency.js"

const withCode = (code: string, message = "x") => Object.assign(new Error(message), { code })

describe("failure reasons", () => {
  it.each([
    [withCode("ECONNREFUSED"), "connection refused"],
    [new AggregateError([withCode("ECONNREFUSED"), withCode("ECONNREFUSED")]), "connection refused"],
    [withCode("ECONNRESET"), "connection reset"],
    [withCode("ETIMEDOUT"), "timeout"],
    [withCode("ENOTFOUND"), "host not found"],
    [withCode("28P01", "password authentication failed for user \"app\""), "authentication failed"],
    [withCode("28000", "role \"nobody\" does not exist"), "authentication failed"],
    [withCode("3D000", "database \"nope\" does not exist"), "database not found"],
    [withCode("57P01"), "shutting down"],
    [new Error("timeout exceeded when trying to connect"), "timeout"],
    [new Error("Query read timeout"), "timeout"],
    [new Error("Command timed out"), "timeout"],
    [new Error("NOAUTH Authentication required."), "authentication failed"],
    [new Error("WRONGPASS invalid username-password pair"), "authentication failed"],
    [new Error("LOADING Redis is loading the dataset in memory"), "loading"],
    [new Error("Connection terminated unexpectedly"), "connection closed"],
    [new Error("Connection is closed."), "connection closed"],
    [new Error("Stream isn't writeable and enableOfflineQueue options is false"), "not connected"],
    [new Error("outer", { cause: withCode("ECONNREFUSED") }), "connection refused"],
    [new Error("something nobody has seen"), "unavailable"],
    ["a string", "unavailable"],
    [undefined, "unavailable"]
  ])("%s → %s", (error, reason) => {
    expect(reasonOf(error)).toBe(reason)
  })

  it("a cyclic cause chain does not loop forever", () => {
    const error: Error & { cause?: unknown } = new Error("a")
    const other: Error & { cause?: unknown } = new Error("b", { cause: error })
    error.cause = other
    expect(reasonOf(error)).toBe("unavailable")
  })
})
