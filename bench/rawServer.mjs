// Baseline for the throughput ratio: plain node:http answering what the service answers on /healthz, byte for byte.
// Plain JavaScript so that no loader sits on the hot path.
import { createServer } from "node:http"

const body = Buffer.from(JSON.stringify({ status: "ok" }))
const headers = {
  "content-type": "application/json",
  "cache-control": "no-store",
  "content-length": String(body.length)
}

const server = createServer((_req, res) => {
  res.writeHead(200, headers)
  res.end(body)
})

server.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? "127.0.0.1")

process.on("SIGTERM", () => server.close(() => process.exit(0)))
