// Raw HTTP/1.1 over a socket, for requests no HTTP client would send: the bytes go out as given, and what comes back
// is parsed strictly enough to tell a well-formed response from a broken one.
import * as Effect from "effect/Effect"
import * as Net from "node:net"

export interface Exchange {
  /** Everything received, one character per byte (latin1), so lengths are byte counts. */
  readonly received: string
  /** How the connection ended: closed by the server (or reset), or still open when `within` ran out. */
  readonly ending: "closed" | "reset" | "timeout"
}

/**
 * Connects, writes `bytes`, half-closes (so the server sees the end of the request stream), and collects what comes
 * back until the connection closes or `withinMillis` passes.
 */
export const exchange = (port: number, bytes: string | Buffer, withinMillis = 3_000): Effect.Effect<Exchange> =>
  Effect.async<Exchange>((resume) => {
    const socket = Net.connect({ port, host: "127.0.0.1" }, () => socket.end(bytes))
    const chunks: Array<Buffer> = []
    let ending: Exchange["ending"] = "closed"
    const timer = setTimeout(() => {
      ending = "timeout"
      socket.destroy()
    }, withinMillis)
    socket.on("data", (chunk: Buffer) => chunks.push(chunk))
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (ending === "closed") ending = error.code === "ECONNRESET" || error.code === "EPIPE" ? "reset" : "closed"
    })
    socket.on("close", () => {
      clearTimeout(timer)
      resume(Effect.succeed({ received: Buffer.concat(chunks).toString("latin1"), ending }))
    })
    return Effect.sync(() => {
      clearTimeout(timer)
      socket.destroy()
    })
  })

export interface Response {
  readonly version: string
  readonly status: number
  /** Lowercased names; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

export type Parsed =
  | { readonly _tag: "Responses"; readonly responses: ReadonlyArray<Response> }
  | { readonly _tag: "Malformed"; readonly reason: string; readonly responses: ReadonlyArray<Response> }

const statusLine = /^(HTTP\/1\.[01]) (\d{3}) [^\r\n]*$/
const headerLine = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/

const chunkedBody = (text: string, from: number): { readonly body: string; readonly end: number } | string => {
  let at = from
  let body = ""
  while (true) {
    const lineEnd = text.indexOf("\r\n", at)
    if (lineEnd === -1) return "a chunk size line is cut off"
    const size = /^([0-9a-fA-F]+)(;.*)?$/.exec(text.slice(at, lineEnd))
    if (size === null) return `bad chunk size line ${JSON.stringify(text.slice(at, lineEnd))}`
    const length = parseInt(size[1]!, 16)
    at = lineEnd + 2
    if (length === 0) {
      // No trailers are sent by these servers: the last chunk is followed by the blank line.
      if (text.slice(at, at + 2) !== "\r\n") return "the last chunk is not followed by a blank line"
      return { body, end: at + 2 }
    }
    if (text.length < at + length + 2) return "a chunk is cut off"
    body += text.slice(at, at + length)
    if (text.slice(at + length, at + length + 2) !== "\r\n") return "a chunk does not end with CRLF"
    at += length + 2
  }
}

/**
 * Parses every response in `received`, in order. `head` says the first final response (the first that is not a 1xx,
 * such as the `100 Continue` an `Expect: 100-continue` earns) answers a HEAD (no body, whatever its Content-Length
 * says). A response without Content-Length or chunked encoding runs to the end of the stream.
 */
export const parse = (received: string, options: { readonly head?: boolean } = {}): Parsed => {
  const responses: Array<Response> = []
  let at = 0
  while (at < received.length) {
    const malformed = (reason: string): Parsed => ({ _tag: "Malformed", reason, responses })
    const headEnd = received.indexOf("\r\n\r\n", at)
    if (headEnd === -1) return malformed(`a response head is cut off: ${JSON.stringify(received.slice(at, at + 200))}`)
    const [first = "", ...lines] = received.slice(at, headEnd).split("\r\n")
    const status = statusLine.exec(first)
    if (status === null) return malformed(`bad status line ${JSON.stringify(first)}`)
    const headers: Record<string, string> = {}
    for (const line of lines) {
      const header = headerLine.exec(line)
      if (header === null) return malformed(`bad header line ${JSON.stringify(line)}`)
      const name = header[1]!.toLowerCase()
      headers[name] = headers[name] === undefined ? header[2]! : `${headers[name]}, ${header[2]!}`
    }
    const code = Number(status[2])
    at = headEnd + 4
    let body = ""
    const firstFinal = code >= 200 && responses.every((response) => response.status < 200)
    const bodiless = (options.head === true && firstFinal) || code < 200 || code === 204 || code === 304
    if (!bodiless) {
      if (headers["transfer-encoding"] !== undefined) {
        if (headers["transfer-encoding"].toLowerCase() !== "chunked") {
          return malformed(`transfer-encoding ${headers["transfer-encoding"]}`)
        }
        const chunked = chunkedBody(received, at)
        if (typeof chunked === "string") return malformed(chunked)
        body = chunked.body
        at = chunked.end
      } else if (headers["content-length"] !== undefined) {
        if (!/^\d+$/.test(headers["content-length"])) return malformed(`content-length ${headers["content-length"]}`)
        const length = Number(headers["content-length"])
        if (received.length < at + length) return malformed("the body is shorter than its content-length")
        body = received.slice(at, at + length)
        at += length
      } else {
        body = received.slice(at)
        at = received.length
      }
    }
    responses.push({ version: status[1]!, status: code, headers, body })
  }
  return { _tag: "Responses", responses }
}
