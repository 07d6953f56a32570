// Issue 7, "The defect": each of these requests alone used to end `node dist/main.js` with an uncaught TypeError (the
// web Request constructor refused the method or the Host). Each test gets its own process, since each request alone
// was enough; after it, the process must still be running and answer /healthz.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { ReadinessReport } from "../../src/http/Api.js"
import * as Raw from "../support/Raw.js"
import * as Service from "../support/Service.js"

const request = (head: string) => `${head}\r\n\r\n`

/** Sends `bytes`, asserts the process survived and /healthz answers, and returns the one response received. */
const send = (bytes: string, options: { readonly head?: boolean } = {}) =>
  Effect.gen(function*() {
    const service = yield* Service.spawn()
    const { ending, received } = yield* Raw.exchange(service.port, bytes)
    const parsed = Raw.parse(received, options)
    yield* service.assertAlive
    expect(yield* Service.healthStatus(service.port), "/healthz after the request").toBe(200)
    expect(ending).toBe("closed")
    expect(parsed, received).toMatchObject({ _tag: "Responses", responses: [expect.anything()] })
    return parsed.responses[0]!
  })

// An invalid or repeated Host is a 400 (RFC 9112 §3.2); TRACE on an unknown path is a 404.
const defects: ReadonlyArray<readonly [string, string, number]> = [
  ["TRACE / (a method the web Request refuses)", request("TRACE / HTTP/1.1\r\nHost: localhost"), 404],
  ["GET /x with Host: a b", request("GET /x HTTP/1.1\r\nHost: a b"), 400],
  ["GET /x with Host: x:99999", request("GET /x HTTP/1.1\r\nHost: x:99999"), 400],
  ["GET /x with Host: a@b", request("GET /x HTTP/1.1\r\nHost: a@b"), 400],
  ["GET /x with Host: [::1", request("GET /x HTTP/1.1\r\nHost: [::1"), 400],
  ["GET /x with Host: %", request("GET /x HTTP/1.1\r\nHost: %"), 400],
  ["POST /readyz with Host: a b", request("POST /readyz HTTP/1.1\r\nHost: a b\r\nContent-Length: 0"), 400],
  ["GET /healthz with two Host headers", request("GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b"), 400]
]

describe("node dist/main.js at the HTTP edge", () => {
  it.scopedLive.each(defects)(
    "%s → a client error; the process lives and /healthz answers",
    ([, bytes, status]) =>
      Effect.gen(function*() {
        const response = yield* send(bytes)
        expect(response.status).toBe(status)
      })
  )

  it.scopedLive("absolute-form GET http://host/readyz → 200 with the readiness report", () =>
    Effect.gen(function*() {
      const response = yield* send(request("GET http://example.test/readyz HTTP/1.1\r\nHost: example.test"))
      expect(response.status).toBe(200)
      expect(response.headers["content-type"]).toBe("application/json")
      const report = yield* Schema.decodeUnknown(Schema.parseJson(ReadinessReport))(response.body)
      expect(Object.keys(report.checks)).toEqual(["database", "redis"])
    }))

  it.scopedLive("HEAD /readyz → 200 with the headers of a GET and no body", () =>
    Effect.gen(function*() {
      const response = yield* send(request("HEAD /readyz HTTP/1.1\r\nHost: localhost"), { head: true })
      expect(response.status).toBe(200)
      expect(response.headers["content-type"]).toBe("application/json")
      expect(Number(response.headers["content-length"])).toBeGreaterThan(0)
      // `send` parsed the stream as one bodiless response: any body bytes would have made it malformed.
      expect(response.body).toBe("")
    }))

  it.scopedLive("OPTIONS /readyz → 405 with Allow", () =>
    Effect.gen(function*() {
      const response = yield* send(request("OPTIONS /readyz HTTP/1.1\r\nHost: localhost"))
      expect(response.status).toBe(405)
      expect(response.headers["allow"]).toBe("GET, HEAD")
    }))
})
