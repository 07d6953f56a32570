// A loopback peer speaking just enough of the PostgreSQL wire protocol for the pool-level tests: the startup (no
// authentication), simple queries, the extended protocol (Parse, Bind, Describe, Execute, Sync) with text rows, an
// error reply, termination. It records each connection's startup parameters, its queries and their parameters, and
// whether it has closed. The real server is the integration suite's.
import * as Effect from "effect/Effect"
import * as Net from "node:net"

/** How the server treats a new connection's startup and the queries that follow. */
export type Mode =
  | { readonly _tag: "answer" }
  | { readonly _tag: "swallowQueries" }
  | { readonly _tag: "silent" }
  | { readonly _tag: "refuse"; readonly code: string; readonly message: string }

/** A row: column name to value, a boolean column typed bool and any other text. */
export type Row = Readonly<Record<string, string | boolean>>

/** What a query gets back: rows, or an error. */
export type Reply =
  | { readonly _tag: "rows"; readonly rows: ReadonlyArray<Row> }
  | { readonly _tag: "error"; readonly code: string; readonly message: string }

export const rows = (...rows: ReadonlyArray<Row>): Reply => ({ _tag: "rows", rows })
export const error = (code: string, message: string): Reply => ({ _tag: "error", code, message })

export interface Query {
  readonly text: string
  /** The bound parameters of an extended-protocol query, as text. */
  readonly parameters: ReadonlyArray<string>
}

export interface Connection {
  readonly parameters: Record<string, string>
  readonly queries: Array<Query>
  closed: boolean
}

export interface FakePostgres {
  readonly port: number
  readonly connections: Array<Connection>
  /** Every query on every connection, in order of arrival. */
  readonly queries: Array<Query>
  mode: Mode
  /** The reply to a query; by default no rows. */
  answer: (query: Query) => Reply
  /** Ends every open connection as PostgreSQL does when it shuts down (57P01, then the socket closes). */
  readonly terminateAll: () => void
}

const message = (type: string, body: Buffer) => {
  const head = Buffer.alloc(5)
  head.write(type, 0, "latin1")
  head.writeInt32BE(body.length + 4, 1)
  return Buffer.concat([head, body])
}
const int16 = (n: number) => {
  const b = Buffer.alloc(2)
  b.writeInt16BE(n)
  return b
}
const int32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeInt32BE(n)
  return b
}
const cstring = (s: string) => Buffer.from(`${s}\0`, "utf8")
const readyForQuery = message("Z", Buffer.from("I"))

export const errorResponse = (code: string, text: string, severity = "FATAL") =>
  message(
    "E",
    Buffer.concat([
      Buffer.from("S"),
      cstring(severity),
      Buffer.from("C"),
      cstring(code),
      Buffer.from("M"),
      cstring(text),
      Buffer.from([0])
    ])
  )

/** RowDescription, DataRows and CommandComplete, in text format (bool is oid 16, text 25). */
const resultOf = (result: ReadonlyArray<Row>, described: boolean): Buffer => {
  const columns = result.length === 0 ? [] : Object.keys(result[0]!)
  const typeOf = (name: string) => typeof result[0]![name] === "boolean" ? 16 : 25
  const description = columns.length === 0
    ? message("n", Buffer.alloc(0))
    : message(
      "T",
      Buffer.concat([
        int16(columns.length),
        ...columns.map((name) =>
          Buffer.concat([cstring(name), int32(0), int16(0), int32(typeOf(name)), int16(-1), int32(-1), int16(0)])
        )
      ])
    )
  const data = result.map((row) =>
    message(
      "D",
      Buffer.concat([
        int16(columns.length),
        ...columns.map((name) => {
          const cell = row[name]!
          const value = Buffer.from(typeof cell === "boolean" ? (cell ? "t" : "f") : cell, "utf8")
          return Buffer.concat([int32(value.length), value])
        })
      ])
    )
  )
  return Buffer.concat([
    ...(described || columns.length > 0 ? [description] : []),
    ...data,
    message("C", cstring(`SELECT ${result.length}`))
  ])
}

/** The parameters of a Bind message, as text. */
const bindParameters = (body: Buffer): Array<string> => {
  let at = body.indexOf(0) + 1 // portal
  at = body.indexOf(0, at) + 1 // statement
  const formats = body.readInt16BE(at)
  at += 2 + 2 * formats
  const count = body.readInt16BE(at)
  at += 2
  const values: Array<string> = []
  for (let i = 0; i < count; i++) {
    const length = body.readInt32BE(at)
    at += 4
    values.push(length < 0 ? "" : body.subarray(at, at + length).toString("utf8"))
    if (length > 0) at += length
  }
  return values
}

export const make = (initial: Mode = { _tag: "answer" }) =>
  Effect.acquireRelease(
    Effect.async<FakePostgres & { readonly server: Net.Server; readonly sockets: Set<Net.Socket> }>((resume) => {
      const sockets = new Set<Net.Socket>()
      const server = Net.createServer((socket) => {
        sockets.add(socket)
        const connection: Connection = { parameters: {}, queries: [], closed: false }
        state.connections.push(connection)
        socket.on("close", () => (connection.closed = true))
        socket.on("error", () => {})
        let buffer = Buffer.alloc(0)
        let started = false
        // The extended-protocol query being assembled, answered at Sync.
        let pending: { text: string; parameters: Array<string> } | undefined
        const record = (text: string, parameters: Array<string>): Query => {
          const query = { text, parameters }
          connection.queries.push(query)
          state.queries.push(query)
          return query
        }
        socket.on("data", (chunk: Buffer) => {
          buffer = Buffer.concat([buffer, chunk])
          while (true) {
            if (!started) {
              if (buffer.length < 4 || buffer.length < buffer.readInt32BE(0)) return
              const length = buffer.readInt32BE(0)
              const fields = buffer.subarray(8, length).toString("utf8").split("\0")
              for (let i = 0; i + 1 < fields.length; i += 2) {
                if (fields[i] !== "") connection.parameters[fields[i]!] = fields[i + 1]!
              }
              buffer = buffer.subarray(length)
              started = true
              const mode = state.mode
              if (mode._tag === "silent") return
              if (mode._tag === "refuse") {
                socket.end(errorResponse(mode.code, mode.message))
                return
              }
              socket.write(Buffer.concat([message("R", int32(0)), readyForQuery]))
              continue
            }
            if (buffer.length < 5 || buffer.length < 1 + buffer.readInt32BE(1)) return
            const type = String.fromCharCode(buffer[0]!)
            const body = buffer.subarray(5, 1 + buffer.readInt32BE(1))
            buffer = buffer.subarray(1 + buffer.readInt32BE(1))
            if (type === "X") return void socket.end()
            if (type === "P") pending = { text: body.toString("utf8").split("\0")[1]!, parameters: [] }
            if (type === "B" && pending !== undefined) pending.parameters = bindParameters(body)
            if (type !== "Q" && type !== "S") continue
            const query = type === "Q"
              ? record(body.toString("utf8").split("\0")[0]!, [])
              : record(pending?.text ?? "", pending?.parameters ?? [])
            pending = undefined
            if (state.mode._tag !== "answer") continue
            const reply = state.answer(query)
            const answer = reply._tag === "error"
              ? errorResponse(reply.code, reply.message, "ERROR")
              : resultOf(reply.rows, type === "S")
            socket.write(
              Buffer.concat([
                ...(type === "S" ? [message("1", Buffer.alloc(0)), message("2", Buffer.alloc(0))] : []),
                answer,
                readyForQuery
              ])
            )
          }
        })
      })
      const state = {
        port: 0,
        connections: [] as Array<Connection>,
        queries: [] as Array<Query>,
        mode: initial,
        answer: (_: Query): Reply => rows(),
        terminateAll: () => {
          for (const socket of sockets) {
            socket.end(errorResponse("57P01", "terminating connection due to administrator command"))
          }
        },
        server,
        sockets
      }
      server.listen(0, "127.0.0.1", () => {
        state.port = (server.address() as Net.AddressInfo).port
        resume(Effect.succeed(state))
      })
    }),
    (state) =>
      Effect.async<void>((resume) => {
        state.server.close(() => resume(Effect.void))
        for (const socket of state.sockets) socket.destroy()
      })
  )
