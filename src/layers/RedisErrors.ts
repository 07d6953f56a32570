// What Redis and the `ioredis` client say when a check fails, read into the shared failure categories, and which of
// those failures the server itself decided (so reconnecting at once cannot help).
import { byMessage, type FailureReason, networkReasons, reasonOfWith } from "./Dependency.js"

const redisMessages = byMessage([
  // Server replies (the error prefix, or the text ioredis wraps when a reply arrives with no command waiting).
  [/NOAUTH|WRONGPASS|invalid password|invalid username-password pair/i, "authentication failed"],
  [/^NOPERM/, "permission denied"],
  [/DB index is out of range|invalid DB index/i, "database not found"],
  [/max number of clients reached/i, "too many connections"],
  [/^OOM /, "out of memory"],
  [/^LOADING/, "loading"],
  // ioredis's own errors
  [/timed? ?out|timeout/i, "timeout"],
  [/Connection is closed|socket hang up|ended by the other party/i, "connection closed"],
  [/isn't writeable|not connected/i, "not connected"]
])

/** Reads an error from ioredis (a reply error or its own) into a failure category. */
export const reasonOfRedisError = reasonOfWith(redisMessages)

/**
 * The server answered and said no (a wrong password, a database it does not have, no room for another client):
 * reconnecting at once would be refused the same way, so these cost one attempt per readiness round, not a storm.
 */
export const isRefusal = (reason: FailureReason): boolean => !networkReasons.has(reason) && reason !== "loading"

/**
 * Why ioredis could not use this URL, or undefined when it can. ioredis reads the database index from the path (and
 * from a `db` query parameter) without checking it, and a non-numeric one becomes `SELECT NaN` after connecting: an
 * unhandled rejection that ends the process. So the index must be a whole number ≥ 0 here, before any connection.
 */
export const redisUrlProblem = (url: URL): string | undefined => {
  const path = url.pathname
  if (path !== "" && path !== "/" && !/^\/\d{1,9}$/.test(path)) {
    return "must name its database as a whole number ≥ 0 (redis://host:port/0)"
  }
  const db = url.searchParams.get("db")
  if (db !== null && !/^\d{1,9}$/.test(db)) return "must give db as a whole number ≥ 0"
  return undefined
}
