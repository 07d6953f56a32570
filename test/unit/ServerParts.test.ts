// The server's pure parts, value by value: the request target, the Host check, the limits and their defaults.
import { describe, expect, it } from "@effect/vitest"
import { defaultLimits, defaultMaxConnections, hasBadHost, targetOf } from "../../src/http/Server.js"

describe("targetOf", () => {
  it.each([
    ["/readyz", "/readyz", ""],
    ["/readyz?verbose", "/readyz", "verbose"],
    ["/readyz?a=1?b", "/readyz", "a=1?b"],
    ["/?", "/", ""],
    ["http://host/readyz?x=1", "/readyz", "x=1"],
    ["HTTP://host:8080/healthz", "/healthz", ""],
    ["https://h", "/", ""],
    ["http://h?q", "/", "q"],
    ["git+ssh.v-1://h/p", "/p", ""],
    ["*", "*", ""],
    ["", "", ""],
    ["readyz", "readyz", ""],
    ["1http://h/p", "1http://h/p", ""],
    ["http:/h/p", "http:/h/p", ""],
    ["xhttp://h/p?q", "/p", "q"]
  ])("%s → path %s, query %s", (url, path, query) => {
    expect(targetOf(url)).toEqual({ path, query })
  })

  it("a missing URL is an empty target", () => {
    expect(targetOf(undefined)).toEqual({ path: "", query: "" })
  })

  it("only a target starting with / is taken as origin-form", () => {
    // An origin-form path that merely contains a scheme is not rewritten.
    expect(targetOf("/x?http://h/p")).toEqual({ path: "/x", query: "http://h/p" })
    expect(targetOf("/http://h/p")).toEqual({ path: "/http://h/p", query: "" })
  })
})

describe("hasBadHost", () => {
  const request = (headers: Record<string, string>, rawHeaders: Array<string>) => ({ headers, rawHeaders })

  it("ports: up to 65535 is valid, above is not, and an empty port is allowed", () => {
    expect(hasBadHost(request({ host: "h:65535" }, ["Host", "h:65535"]))).toBe(false)
    expect(hasBadHost(request({ host: "h:65536" }, ["Host", "h:65536"]))).toBe(true)
    expect(hasBadHost(request({ host: "h:0" }, ["Host", "h:0"]))).toBe(false)
    expect(hasBadHost(request({ host: "h:123456" }, ["Host", "h:123456"]))).toBe(true)
    expect(hasBadHost(request({ host: "[::1]:65536" }, ["Host", "[::1]:65536"]))).toBe(true)
  })

  it("the whole value must be an authority, anchored at both ends", () => {
    for (const host of [" h", "h ", "h/", "/h", "h:1a", "[::1]x", "x[::1]", "h:1:2"]) {
      expect(hasBadHost(request({ host }, ["Host", host]))).toBe(true)
    }
    for (const host of ["", "H.EXAMPLE", "[2001:DB8::a.b]", "%7e", "!$&'()*+,;=", "h:", "h:00080"]) {
      expect(hasBadHost(request({ host }, ["Host", host]))).toBe(false)
    }
  })

  it("a repeated Host is found whatever its case, among other headers of four letters", () => {
    expect(hasBadHost(request({ host: "a" }, ["HOST", "a", "Date", "x", "host", "a"]))).toBe(true)
    expect(hasBadHost(request({ host: "a" }, ["Host", "a", "Date", "x", "Vary", "y"]))).toBe(false)
    expect(hasBadHost(request({ host: "a" }, ["Date", "x", "Host", "a"]))).toBe(false)
    expect(hasBadHost(request({ host: "a" }, ["Hosts", "a", "Host", "a"]))).toBe(false)
    // Names sit at even positions only: a header whose value is "host" is not a second Host.
    expect(hasBadHost(request({ host: "a" }, ["Host", "a", "X-Via", "host"]))).toBe(false)
    expect(hasBadHost(request({ host: "a" }, ["X-Yz", "Host", "Host", "a"]))).toBe(false)
  })

  it("no Host at all is left to Node; the check reads the raw headers only", () => {
    expect(hasBadHost(request({}, ["Date", "x", "X-Host", "a"]))).toBe(false)
    expect(hasBadHost(request({}, []))).toBe(false)
    // Node's headers object (built lazily, never by the fast path) plays no part.
    expect(hasBadHost(request({ host: "a b" }, ["Host", "ok"]))).toBe(false)
  })
})

describe("limits", () => {
  it("the connection cap keeps 256 descriptors back, within 64 and 10,000", () => {
    expect(defaultMaxConnections(1_024)).toBe(768)
    expect(defaultMaxConnections(320)).toBe(64)
    expect(defaultMaxConnections(321)).toBe(65)
    expect(defaultMaxConnections(100)).toBe(64)
    expect(defaultMaxConnections(10_256)).toBe(10_000)
    expect(defaultMaxConnections(10_255)).toBe(9_999)
    expect(defaultMaxConnections(1_048_576)).toBe(10_000)
  })

  it("the cap follows this process's open-files limit", async () => {
    const { readFileSync } = await import("node:fs")
    const line = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"))
    expect(line).not.toBeNull()
    expect(defaultMaxConnections()).toBe(defaultMaxConnections(Number(line![1])))
    expect(defaultLimits.maxConnections).toBe(defaultMaxConnections(Number(line![1])))
  })

  it("the defaults are the documented ones", () => {
    expect(defaultLimits).toEqual({
      maxConnections: defaultMaxConnections(),
      idleTimeoutMillis: 10_000,
      headersTimeoutMillis: 10_000,
      requestTimeoutMillis: 30_000,
      keepAliveTimeoutMillis: 5_000,
      maxHeaderSize: 16_384
    })
  })
})
