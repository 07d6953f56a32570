// Whether the shared PostgreSQL and Redis are reachable on loopback, so a suite that needs them can say in one line
// what is missing and how to start it, instead of failing every test with ECONNREFUSED.
import * as Net from "node:net"

export interface Target {
  readonly name: string
  readonly host: string
  readonly port: number
  /** The command that starts it (from the README). */
  readonly start: string
}

export const postgres: Target = {
  name: "PostgreSQL",
  host: "127.0.0.1",
  port: 5432,
  start: "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
}

export const redis: Target = {
  name: "Redis",
  host: "127.0.0.1",
  port: 6379,
  start:
    "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save \"\" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log"
}

const reachable = (target: Target, timeoutMillis: number) =>
  new Promise<boolean>((resolve) => {
    const socket = Net.connect({ host: target.host, port: target.port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMillis, () => done(false))
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
  })

/** One line naming every target that does not accept a TCP connection, and how to start it; undefined if none. */
export const unreachable = async (
  targets: ReadonlyArray<Target> = [postgres, redis],
  timeoutMillis = 1_000
): Promise<string | undefined> => {
  const results = await Promise.all(targets.map((target) => reachable(target, timeoutMillis)))
  const missing = targets.filter((_, i) => !results[i])
  if (missing.length === 0) return undefined
  return `not reachable: ${
    missing.map((target) => `${target.name} on ${target.host}:${target.port} (start it: ${target.start})`).join("; ")
  }`
}

/** Throws one Error, without a stack, when a target is not reachable. */
export const requireReachable = async (targets?: ReadonlyArray<Target>): Promise<void> => {
  const message = await unreachable(targets)
  if (message === undefined) return
  const error = new Error(message)
  error.stack = `Error: ${message}`
  throw error
}
