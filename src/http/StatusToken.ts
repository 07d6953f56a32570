// STATUS_TOKEN: what names a tenant (per-tenant readiness, /status, tenant labels in /metrics) is answered only to a
// request with `Authorization: Bearer <token>`. The probes themselves never need it.
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { createHash, timingSafeEqual } from "node:crypto"
import * as AppConfig from "../AppConfig.js"
import type { FastAnswer } from "./Listener.js"

const digest = (text: string) => createHash("sha256").update(text).digest()

/**
 * Whether an `Authorization` header carries the token. Digests of equal length are compared with
 * `timingSafeEqual`, so neither the token's length nor its first differing byte shows in the answer time.
 */
export const bearerCheck = (token: Redacted.Redacted) => {
  const expected = digest(Redacted.value(token))
  return (authorization: string | undefined): boolean => {
    const presented = authorization !== undefined && /^bearer /i.test(authorization) ? authorization.slice(7) : ""
    // The digest is taken whether or not a token was presented, so a missing header costs the same.
    const matches = timingSafeEqual(digest(presented.trim()), expected)
    return matches && presented !== ""
  }
}

export const unauthorizedAnswer: FastAnswer = {
  status: 401,
  headers: { "content-type": "application/json", "cache-control": "no-store", "www-authenticate": "Bearer" },
  body: "{\"error\":\"unauthorized\"}"
}

export class StatusToken extends Context.Tag("dashboard/StatusToken")<StatusToken, {
  /** True when no token is configured, or when the header carries it. */
  readonly authorized: (authorization: string | undefined) => boolean
}>() {
  /** No token: everything is answered to everyone (what an app without StatusToken does too). */
  static readonly None = Layer.succeed(StatusToken, { authorized: () => true })

  static readonly make = (token: Redacted.Redacted) => Layer.succeed(StatusToken, { authorized: bearerCheck(token) })

  /** STATUS_TOKEN, when set. */
  static readonly Live = Layer.unwrapEffect(
    Effect.map(AppConfig.statusToken, Option.match({ onNone: () => StatusToken.None, onSome: StatusToken.make }))
  )
}

/** The token check of an app: the provided one, or none. */
export const statusTokenOf = Effect.map(
  Effect.serviceOption(StatusToken),
  Option.getOrElse((): StatusToken["Type"] => ({ authorized: () => true }))
)
