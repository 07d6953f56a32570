// A dependency that hangs: it accepts TCP connections and then never writes a byte.
import * as net from "node:net"

export interface Blackhole {
  readonly port: number
  readonly accepted: () => number
  readonly close: () => Promise<void>
}

export const startBlackhole = (): Promise<Blackhole> =>
  new Promise((resolve, reject) => {
    const sockets = new Set<net.Socket>()
    let accepted = 0
    const server = net.createServer((socket) => {
      accepted++
      sockets.add(socket)
      socket.on("error", () => sockets.delete(socket))
      socket.on("close", () => sockets.delete(socket))
    })
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      resolve({
        port,
        accepted: () => accepted,
        close: () =>
          new Promise((done) => {
            for (const socket of sockets) socket.destroy()
            server.close(() => done())
          })
      })
    })
  })
