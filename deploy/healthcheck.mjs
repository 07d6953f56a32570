// The image's HEALTHCHECK: liveness (/livez) on the service's own port, with fetch, so the image needs no curl.
// Exit 0 when it answers 2xx, 1 otherwise (Docker reads any other code as a misconfiguration).
const port = process.env.PORT ?? "3000"
try {
  const response = await fetch(`http://127.0.0.1:${port}/livez`, { signal: AbortSignal.timeout(2_000) })
  process.exit(response.ok ? 0 : 1)
} catch {
  process.exit(1)
}
