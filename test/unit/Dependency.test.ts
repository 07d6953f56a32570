// What every driver shares: Node's network and TLS codes, and the walk along a cause chain.
import { describe, expect, it } from "@effect/vitest"
import { reasonOf, reasonOfWith } from "../../src/layers/Dependency.js"

const withCode = (code: string, message = "x") => Object.assign(new Error(message), { code })

describe("shared failure reasons", () => {
  it.each([
    [withCode("ECONNREFUSED"), "connection refused"],
    [new AggregateError([withCode("ECONNREFUSED"), withCode("ECONNREFUSED")]), "connection refused"],
    [withCode("ECONNRESET"), "connection reset"],
    [withCode("EPIPE"), "connection reset"],
    [withCode("ETIMEDOUT"), "timeout"],
    [withCode("ENOTFOUND"), "host not found"],
    [withCode("EAI_AGAIN"), "host not found"],
    [withCode("DEPTH_ZERO_SELF_SIGNED_CERT", "self-signed certificate"), "certificate not trusted"],
    [withCode("SELF_SIGNED_CERT_IN_CHAIN"), "certificate not trusted"],
    [withCode("UNABLE_TO_VERIFY_LEAF_SIGNATURE"), "certificate not trusted"],
    [withCode("CERT_HAS_EXPIRED"), "certificate not trusted"],
    [withCode("ERR_TLS_CERT_ALTNAME_INVALID"), "certificate not trusted"],
    [withCode("EPROTO"), "tls handshake failed"],
    [withCode("ERR_SSL_WRONG_VERSION_NUMBER"), "tls handshake failed"],
    [new Error("outer", { cause: withCode("ECONNREFUSED") }), "connection refused"],
    [new Error("something nobody has seen"), "unavailable"],
    [withCode("XX000"), "unavailable"],
    ["a string", "unavailable"],
    [undefined, "unavailable"]
  ])("%s → %s", (error, reason) => {
    expect(reasonOf(error)).toBe(reason)
  })

  it("a driver's classifier is asked first, at every step of the cause chain", () => {
    const classify = reasonOfWith((error) =>
      error instanceof Error && error.message === "inner" ? "too many connections" : undefined
    )
    expect(classify(new Error("outer", { cause: new Error("inner") }))).toBe("too many connections")
    expect(classify(new Error("outer", { cause: withCode("ECONNRESET") }))).toBe("connection reset")
  })

  it("a cyclic cause chain does not loop forever", () => {
    const error: Error & { cause?: unknown } = new Error("a")
    const other: Error & { cause?: unknown } = new Error("b", { cause: error })
    error.cause = other
    expect(reasonOf(error)).toBe("unavailable")
  })
})
