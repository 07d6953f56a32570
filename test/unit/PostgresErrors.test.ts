// PostgreSQL SQLSTATE codes and pg's own messages read into failure categories (README, "Failure reasons").
import { SqlError } from "@effect/sql/SqlError"
import { describe, expect, it } from "@effect/vitest"
import { reasonOfPostgresError } from "../../src/layers/PostgresErrors.js"

/** What pg rejects with: a DatabaseError carrying the server's SQLSTATE in `code`. */
const sqlstate = (code: string, message = "x") => Object.assign(new Error(message), { code, severity: "FATAL" })

describe("PostgreSQL failure reasons", () => {
  it.each([
    // 08, connection exception
    ["08000", "connection closed"],
    ["08001", "connection refused"],
    ["08003", "connection closed"],
    ["08004", "connection refused"],
    ["08006", "connection closed"],
    ["08007", "connection closed"],
    ["08P01", "unavailable"],
    // 28, authorization
    ["28000", "authentication failed"],
    ["28P01", "authentication failed"],
    ["3D000", "database not found"],
    ["42501", "permission denied"],
    // 53, insufficient resources
    ["53000", "insufficient resources"],
    ["53100", "disk full"],
    ["53200", "out of memory"],
    ["53300", "too many connections"],
    ["53400", "insufficient resources"],
    // 55, object not in prerequisite state
    ["55000", "unavailable"],
    ["55006", "unavailable"],
    ["55P03", "timeout"],
    // 57, operator intervention
    ["57000", "unavailable"],
    ["57014", "timeout"],
    ["57P01", "shutting down"],
    ["57P02", "shutting down"],
    ["57P03", "loading"],
    ["57P04", "database not found"],
    ["57P05", "connection closed"],
    // a code not listed reads as its class, and an unknown class as unavailable
    ["08XYZ", "connection closed"],
    ["53999", "insufficient resources"],
    ["57P99", "unavailable"],
    ["XX000", "unavailable"]
  ])("SQLSTATE %s → %s", (code, reason) => {
    expect(reasonOfPostgresError(sqlstate(code))).toBe(reason)
  })

  it.each([
    [sqlstate("53300", "sorry, too many clients already"), "too many connections"],
    [sqlstate("57P03", "the database system is starting up"), "loading"],
    [sqlstate("57P03", "the database system is shutting down"), "shutting down"],
    [new Error("timeout exceeded when trying to connect"), "timeout"],
    [new Error("Query read timeout"), "timeout"],
    [new Error("The server does not support SSL connections"), "tls not supported"],
    [new Error("Connection terminated unexpectedly"), "connection closed"],
    [
      Object.assign(new Error("self-signed certificate"), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" }),
      "certificate not trusted"
    ],
    [new Error("outer", { cause: sqlstate("53300") }), "too many connections"],
    [new SqlError({ cause: sqlstate("28P01"), message: "PgClient: Failed to connect" }), "authentication failed"],
    [new Error("something nobody has seen"), "unavailable"]
  ])("%s → %s", (error, reason) => {
    expect(reasonOfPostgresError(error)).toBe(reason)
  })
})
