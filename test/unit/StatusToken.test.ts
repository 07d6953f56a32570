// STATUS_TOKEN: which Authorization headers carry the token, what a request without it is answered, and the layers
// that read it from the configuration.
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { bearerCheck, StatusToken, statusTokenOf, unauthorizedAnswer } from "../../src/http/StatusToken.js"

const tokenFrom = (env: Record<string, string>) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(StatusToken.Live)
    return yield* Effect.provide(StatusToken, context)
  }).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))

describe("the bearer check", () => {
  const authorized = bearerCheck(Redacted.make("t0ken"))

  it("reads the token after the scheme only: a header that merely has the token at the same place is refused", () => {
    // Seven characters before the token, like "Bearer ", but another scheme or none.
    for (const header of ["Token: t0ken", "xBearer t0ken", "Basic  t0ken", "       t0ken", "Bearer:t0ken"]) {
      expect(authorized(header), header).toBe(false)
    }
  })

  it("ignores the white space around the token", () => {
    expect(authorized("Bearer t0ken ")).toBe(true)
    expect(authorized("Bearer  t0ken")).toBe(true)
    expect(authorized("BEARER t0ken")).toBe(true)
  })
})

describe("the unauthorized answer", () => {
  it("is a 401 that names the scheme, is never cached, and says nothing else", () => {
    expect(unauthorizedAnswer).toEqual({
      status: 401,
      headers: { "content-type": "application/json", "cache-control": "no-store", "www-authenticate": "Bearer" },
      body: "{\"error\":\"unauthorized\"}"
    })
  })
})

describe("the token's layers", () => {
  it.scoped("without STATUS_TOKEN, every request is authorized, with a header or without", () =>
    Effect.gen(function*() {
      const token = yield* tokenFrom({})
      for (const header of [undefined, "", "Bearer anything"]) expect(token.authorized(header)).toBe(true)
    }))

  it.scoped("with STATUS_TOKEN, only its bearer is", () =>
    Effect.gen(function*() {
      const token = yield* tokenFrom({ STATUS_TOKEN: "s3cret" })
      expect(token.authorized("Bearer s3cret")).toBe(true)
      for (const header of [undefined, "", "Bearer other"]) expect(token.authorized(header)).toBe(false)
    }))

  it.scoped("an app without the service authorizes everything; with it, asks the service", () =>
    Effect.gen(function*() {
      const none = yield* statusTokenOf
      expect(none.authorized(undefined)).toBe(true)
      const context = yield* Layer.build(StatusToken.make(Redacted.make("s3cret")))
      const some = yield* Effect.provide(statusTokenOf, context)
      expect(some.authorized(undefined)).toBe(false)
      expect(some.authorized("Bearer s3cret")).toBe(true)
      const open = yield* Effect.provide(statusTokenOf, yield* Layer.build(StatusToken.None))
      expect(open.authorized(undefined)).toBe(true)
    }))
})
