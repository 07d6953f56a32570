// Whether the shared PostgreSQL and Redis are reachable on loopback and the programs the suite runs are installed, so
// a suite that needs them can say in one line what is missing and how to start or install it, instead of failing every
// test with ECONNREFUSED or ENOENT.
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"

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

/** A program a suite runs, and the Debian package that brings it. */
export interface Tool {
  readonly command: string
  readonly debianPackage: string
}

/** What the default suite runs besides Node: a real HAProxy, and `promtool` and `prometheus` for the metrics. */
export const defaultSuiteTools: ReadonlyArray<Tool> = [
  { command: "haproxy", debianPackage: "haproxy" },
  { command: "promtool", debianPackage: "prometheus" },
  { command: "prometheus", debianPackage: "prometheus" }
]

const onPath = (command: string, path: string): boolean =>
  path.split(Path.delimiter).some((dir) => {
    if (dir === "") return false
    try {
      Fs.accessSync(Path.join(dir, command), Fs.constants.X_OK)
      return true
    } catch {
      return false
    }
  })

/** One line naming every tool not on the PATH, and the command that installs it; undefined if none. */
export const missingTools = (
  tools: ReadonlyArray<Tool> = defaultSuiteTools,
  path = process.env.PATH ?? ""
): string | undefined => {
  const missing = tools.filter((tool) => !onPath(tool.command, path))
  if (missing.length === 0) return undefined
  const packages = [...new Set(missing.map((tool) => tool.debianPackage))]
  return `not on the PATH: ${missing.map((tool) => tool.command).join(", ")} (install: apt-get install -y ${
    packages.join(" ")
  })`
}

/** Throws one Error, without a stack, naming what is unreachable and what is not installed. */
export const requireDefaultSuite = async (): Promise<void> => {
  const problems = [await unreachable(), missingTools()].filter((line) => line !== undefined)
  if (problems.length === 0) return
  const message = problems.join("; ")
  const error = new Error(message)
  error.stack = `Error: ${message}`
  throw error
}
