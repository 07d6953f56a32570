// Property: no request a client can write ends the process or earns a 5xx. Generated raw HTTP/1.1 requests go over
// a socket to the app built by TestApp.serve (the one app builder, healthy test layers); each one must get
// well-formed responses below 500, or have its connection closed, and /healthz must answer 200 after it.
import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc } from "effect"
import { Database } from "../../src/layers/Database.js"
import { Redis } from "../../src/layers/Redis.js"
import * as Raw from "../support/Raw.js"
import * as TestApp from "../support/TestApp.js"

// Enough to cover every family below many times over, and about 3 s on a busy 2-core machine.
const numRuns = 300

const token = fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}$/)
/** Printable ASCII plus the odd control character, tab and non-ASCII byte. */
const junk = fc.string({
  unit: fc.oneof(
    { weight: 20, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
    { weight: 1, arbitrary: fc.constantFrom(0, 9, 0x7f, 0xe9) }
  ).map((c) => String.fromCharCode(c)),
  maxLength: 40
})

// Each part is well-formed most of the time, so that a good share of requests gets past Node's parser and reaches
// the fast path or the Effect app, where the defects of issue 7 were.
const sane = <A>(arbitrary: fc.Arbitrary<A>) => ({ weight: 6, arbitrary })

const method = fc.oneof(
  sane(fc.constantFrom("GET", "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")),
  fc.constantFrom("TRACE", "CONNECT", "TRACK"),
  fc.constantFrom("get", "Get", "head", "options"),
  token,
  fc.constantFrom("", "G ET", "GET\t", "\u00e9")
)

const path = fc.constantFrom(
  "/healthz",
  "/readyz",
  "/openapi.json",
  "/",
  "/nope",
  "/healthz/",
  "//readyz",
  "/readyz/.."
)
const query = fc.oneof(
  fc.constant(""),
  fc.constant("?"),
  junk.map((q) => `?${encodeURIComponent(q)}`),
  fc.constant("?a=%zz")
)

const target = fc.oneof(
  sane(fc.tuple(path, query).map(([p, q]) => `${p}${q}`)),
  fc.tuple(
    fc.constantFrom("http", "HTTP", "https", "ftp"),
    fc.constantFrom("h", "127.0.0.1:1", "[::1]", "a@b", ""),
    path
  )
    .map(([scheme, authority, p]) => `${scheme}://${authority}${p}`),
  fc.constant("*"),
  fc.constantFrom("/%72eadyz", "/%zz", "/%", "/%00", "/%2e%2e/healthz", "/r%C3%A9"),
  fc.integer({ min: 1_000, max: 20_000 }).map((n) => `/${"a".repeat(n)}`),
  junk
)

const version = fc.oneof(
  { weight: 12, arbitrary: fc.constant("HTTP/1.1") },
  { weight: 1, arbitrary: fc.constantFrom("HTTP/1.0", "HTTP/2.0", "HTTP/1.1x", "HTTP/9", "") }
)

const hostValue = fc.oneof(
  fc.constantFrom("localhost", "127.0.0.1:3000", "[::1]:80", "example.test"),
  fc.constantFrom("a b", "x:99999", "x:-1", "x:", "a@b", "user:pass@h", "[::1", "::1", "%", "%zz", " h ", ""),
  junk
)
/** One Host mostly; sometimes none, or several (duplicates). */
const hosts = fc.oneof(sane(fc.array(hostValue, { minLength: 1, maxLength: 1 })), fc.array(hostValue, { maxLength: 3 }))
  .map((values) => values.map((value) => `Host: ${value}`))

const otherHeaders = fc.array(
  fc.oneof(
    fc.tuple(token, junk).map(([name, value]) => `${name}: ${value}`),
    sane(fc.tuple(token, fc.stringMatching(/^[ -~]{0,30}$/)).map(([name, value]) => `X-${name}: ${value.trim()}`)),
    fc.constantFrom("Connection: close", "Connection: keep-alive", "Connection: upgrade\r\nUpgrade: websocket"),
    fc.constantFrom("Expect: 100-continue", "Accept: */*", "X-Dup: 1\r\nX-Dup: 2", "NoColon", ": empty-name"),
    fc.integer({ min: 1_000, max: 20_000 }).map((n) => `X-Big: ${"b".repeat(n)}`)
  ),
  { maxLength: 4 }
)

const body = fc.oneof(fc.constant(""), junk, fc.constant("{\"a\":1}"))

/** How the body is framed, honestly or not. */
const framing = fc.oneof(
  sane(fc.constant((_: string) => ({ headers: [] as Array<string>, body: "" }))),
  fc.constant((b: string) => ({ headers: [] as Array<string>, body: b })),
  sane(fc.constant((b: string) => ({ headers: [`Content-Length: ${Buffer.byteLength(b, "latin1")}`], body: b }))),
  fc.constantFrom("-1", "abc", "1e3", "99999999999999999999", "5, 6", " ", "0x10").map((length) => (b: string) => ({
    headers: [`Content-Length: ${length}`],
    body: b
  })),
  fc.constant((b: string) => ({ headers: ["Content-Length: 1", "Content-Length: 2"], body: b })),
  fc.constant((b: string) => ({
    headers: ["Transfer-Encoding: chunked"],
    body: `${Buffer.byteLength(b, "latin1").toString(16)}\r\n${b}\r\n0\r\n\r\n`
  })),
  fc.constantFrom("zz\r\nabc\r\n", "5\r\nab", "-1\r\n\r\n", "0\r\n", "3\r\nabcdef\r\n0\r\n\r\n").map(
    (chunks) => () => ({
      headers: ["Transfer-Encoding: chunked"],
      body: chunks
    })
  ),
  fc.constant((b: string) => ({ headers: ["Transfer-Encoding: chunked", "Content-Length: 3"], body: `3\r\n${b}` })),
  fc.constantFrom("gzip", "chunked, gzip", "identity", "chunkedx").map((coding) => (b: string) => ({
    headers: [`Transfer-Encoding: ${coding}`],
    body: b
  }))
)

const request = fc.record({ method, target, version, hosts, otherHeaders, framing, body }).map((r) => {
  const framed = r.framing(r.body)
  const headers = [...r.hosts, ...r.otherHeaders, ...framed.headers]
  return {
    method: r.method,
    bytes: `${r.method} ${r.target} ${r.version}\r\n${headers.map((h) => `${h}\r\n`).join("")}\r\n${framed.body}`
  }
})

describe("HTTP edge: generated requests", () => {
  it.scopedLive("every request gets well-formed answers below 500 or a closed connection; /healthz stays 200", () =>
    Effect.gen(function*() {
      const incidents: Array<string> = []
      const onRejection = (reason: unknown) => void incidents.push(`unhandledRejection: ${String(reason)}`)
      const onException = (error: Error) => void incidents.push(`uncaughtException: ${error.stack ?? error.message}`)
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          process.on("unhandledRejection", onRejection)
          process.on("uncaughtException", onException)
        }),
        () =>
          Effect.sync(() => {
            process.off("unhandledRejection", onRejection)
            process.off("uncaughtException", onException)
          })
      )
      const app = yield* TestApp.serve({ database: Database.Test, redis: Redis.Test })
      yield* app.readiness.refresh
      const property = fc.asyncProperty(request, async ({ bytes, method }) => {
        // Each run answers for its own request (the shrinker replays smaller ones one by one).
        incidents.length = 0
        const { ending, received } = await Effect.runPromise(Raw.exchange(app.port, Buffer.from(bytes, "latin1")))
        expect(ending, "the connection must close once the request stream ends").not.toBe("timeout")
        const parsed = Raw.parse(received, { head: method === "HEAD" })
        expect(parsed._tag === "Malformed" ? parsed.reason : "well-formed").toBe("well-formed")
        expect(parsed.responses.map((response) => response.status).filter((status) => status >= 500)).toEqual([])
        const health = await Effect.runPromise(
          Raw.exchange(app.port, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        )
        expect(Raw.parse(health.received).responses.map((response) => response.status)).toEqual([200])
        expect(incidents.join("\n")).toBe("")
      })
      yield* Effect.promise(() => fc.assert(property, { numRuns }))
      expect(incidents.join("\n")).toBe("")
    }))
})
