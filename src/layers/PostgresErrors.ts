// What PostgreSQL and the `pg` driver say when a check fails, read into the shared failure categories. SQLSTATE codes
// are from the PostgreSQL manual, appendix A ("PostgreSQL Error Codes"); the README's reason table lists the mapping.
import { byMessage, type Classifier, codeOf, type FailureReason, reasonOfWith } from "./Dependency.js"

/** SQLSTATE codes with a category of their own; a code not listed falls back to its class (`classReasons`). */
export const sqlstateReasons: Readonly<Record<string, FailureReason>> = {
  // Class 08, connection exception
  "08000": "connection closed",
  "08001": "connection refused", // sqlclient_unable_to_establish_sqlconnection
  "08003": "connection closed", // connection_does_not_exist
  "08004": "connection refused", // sqlserver_rejected_establishment_of_sqlconnection
  "08006": "connection closed", // connection_failure
  "08007": "connection closed", // transaction_resolution_unknown
  "08P01": "unavailable", // protocol_violation: a bug on one side, nothing an operator can act on at once
  // Class 28, invalid authorization specification
  "28000": "authentication failed", // invalid_authorization_specification (no such role, pg_hba rejects)
  "28P01": "authentication failed", // invalid_password
  // Class 3D, invalid catalog name
  "3D000": "database not found",
  // Class 42, only the privilege error
  "42501": "permission denied", // insufficient_privilege (e.g. no CONNECT on the database)
  // Class 53, insufficient resources
  "53000": "insufficient resources",
  "53100": "disk full",
  "53200": "out of memory",
  "53300": "too many connections", // too_many_connections: "sorry, too many clients already"
  "53400": "insufficient resources", // configuration_limit_exceeded
  // Class 55, object not in prerequisite state
  "55000": "unavailable", // e.g. a database with datallowconn = false: "not currently accepting connections"
  "55006": "unavailable", // object_in_use
  "55P03": "timeout", // lock_not_available: lock_timeout expired
  // Class 57, operator intervention
  "57000": "unavailable",
  "57014": "timeout", // query_canceled: statement_timeout
  "57P01": "shutting down", // admin_shutdown
  "57P02": "shutting down", // crash_shutdown: the server is restarting after a crash
  "57P03": "loading", // cannot_connect_now: starting up or in recovery (refined by message below)
  "57P04": "database not found", // database_dropped
  "57P05": "connection closed" // idle_session_timeout
}

/** A SQLSTATE whose exact code is not listed reads as its class. */
export const classReasons: Readonly<Record<string, FailureReason>> = {
  "08": "connection closed",
  "28": "authentication failed",
  "3D": "database not found",
  "53": "insufficient resources",
  "57": "unavailable"
}

const isSqlstate = (code: string) => /^[0-9A-Z]{5}$/.test(code)

const pgMessages = byMessage([
  [/timeout exceeded when trying to connect|Query read timeout|timed? ?out/i, "timeout"],
  [/does not support SSL/i, "tls not supported"],
  [/Connection terminated|ended by the other party|socket hang up/i, "connection closed"]
])

const classifyPostgres: Classifier = (error) => {
  const code = codeOf(error)
  if (code !== undefined && isSqlstate(code)) {
    // 57P03 covers both ends of a server's life: "the database system is starting up" and "... is shutting down".
    if (code === "57P03" && /shutting down/i.test(String((error as { message?: unknown }).message))) {
      return "shutting down"
    }
    return sqlstateReasons[code] ?? classReasons[code.slice(0, 2)] ?? "unavailable"
  }
  return pgMessages(error)
}

/** Reads an error from `pg` (or @effect/sql wrapping one) into a failure category. */
export const reasonOfPostgresError = reasonOfWith(classifyPostgres)
