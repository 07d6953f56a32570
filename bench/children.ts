// Child processes of the bench. Every one is registered so that an error or Ctrl-C never leaves one running.
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"

export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly error?: string
}

export interface Child {
  readonly name: string
  readonly logFile: string | undefined
  readonly process: ChildProcess
  readonly exited: Promise<Exit>
  readonly exit: () => Exit | undefined
}

const running = new Set<ChildProcess>()

/**
 * The Node flags `pnpm start` runs the service with (package.json is their one source; the Dockerfile's CMD is checked
 * against it), so that the bench measures the service as it is run.
 */
export const serviceNodeFlags: ReadonlyArray<string> = (() => {
  const packageJson = JSON.parse(fs.readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    readonly scripts: Record<string, string>
  }
  const command = /\bnode((?:\s+--\S+)*)\s+dist\/main\.js/.exec(packageJson.scripts.start ?? "")
  if (command === null) throw new Error("package.json's start script does not run node dist/main.js")
  return command[1]!.trim().split(/\s+/).filter((flag) => flag !== "")
})()

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

export const start = (
  name: string,
  command: string,
  args: ReadonlyArray<string>,
  env: NodeJS.ProcessEnv,
  logFile?: string | "pipe stdout"
): Child => {
  const out = logFile === undefined ? "ignore" : logFile === "pipe stdout" ? "pipe" : fs.openSync(logFile, "w")
  const child = spawn(command, args, { env, stdio: ["ignore", out, out === "pipe" ? "ignore" : out] })
  if (typeof out === "number") fs.closeSync(out)
  running.add(child)
  let status: Exit | undefined
  const exited = new Promise<Exit>((resolve) => {
    const done = (exit: Exit) => {
      running.delete(child)
      status ??= exit
      resolve(status)
    }
    child.once("exit", (code, signal) => done({ code, signal }))
    child.once("error", (error) => done({ code: null, signal: null, error: error.message }))
  })
  return { name, logFile, process: child, exited, exit: () => status }
}

export const describe = (exit: Exit): string =>
  exit.error ?? (exit.signal !== null ? `signal ${exit.signal}` : `exit code ${exit.code}`)

export const waitForPort = async (child: Child, port: number, timeoutMs: number): Promise<number> => {
  const started = performance.now()
  while (performance.now() - started < timeoutMs) {
    const exit = child.exit()
    if (exit !== undefined) throw new Error(`${child.name} stopped before listening (${describe(exit)})`)
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1")
      socket.once("connect", () => {
        socket.destroy()
        resolve(true)
      })
      socket.once("error", () => resolve(false))
    })
    if (open) return performance.now() - started
    await sleep(50)
  }
  throw new Error(`${child.name} did not accept connections on 127.0.0.1:${port} within ${timeoutMs} ms`)
}

export const stop = async (child: Child, graceMs = 5000): Promise<Exit> => {
  const exit = child.exit()
  if (exit !== undefined) return exit
  child.process.kill("SIGTERM")
  const timer = setTimeout(() => child.process.kill("SIGKILL"), graceMs)
  const status = await child.exited
  clearTimeout(timer)
  return status
}

export const killAll = (): void => {
  for (const child of running) child.kill("SIGKILL")
  running.clear()
}

// process.on("exit") handlers must be synchronous, hence SIGKILL for whatever an error path left behind.
export const installCleanup = (): void => {
  process.once("exit", killAll)
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      killAll()
      process.exit(128 + (signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : 1))
    })
  }
}

/** A child that stopped while the bench still measures it. */
export class ChildGone extends Error {
  constructor(readonly child: Child) {
    super(`${child.name} stopped while being measured`)
  }
}

const readProc = (child: Child | "self", file: string): string => {
  try {
    return fs.readFileSync(`/proc/${child === "self" ? "self" : child.process.pid}/${file}`, "utf8")
  } catch (error) {
    if (child === "self") throw error
    throw new ChildGone(child)
  }
}

export interface Memory {
  readonly rssMb: number
  readonly peakRssMb: number
}

const statusField = (status: string, field: string): number => {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)
  return match?.[1] === undefined ? Number.NaN : Number(match[1]) / 1024
}

export const memory = (child: Child): Memory => {
  const status = readProc(child, "status")
  return { rssMb: statusField(status, "VmRSS"), peakRssMb: statusField(status, "VmHWM") }
}

export interface FileLimit {
  readonly soft: number | "unlimited"
  readonly hard: number | "unlimited"
}

export const openFileLimit = (child: Child | "self"): FileLimit | undefined => {
  const limits = readProc(child, "limits")
  const match = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits)
  if (match?.[1] === undefined || match[2] === undefined) return undefined
  const parse = (value: string) => (value === "unlimited" ? "unlimited" : Number(value))
  return { soft: parse(match[1]), hard: parse(match[2]) }
}

const clockTicks = 100

// utime + stime of a process in seconds; field numbers count from after the parenthesised command name.
export const cpuSeconds = (child: Child): number => {
  const stat = readProc(child, "stat")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return (Number(fields[11]) + Number(fields[12])) / clockTicks
}

// Busy time of all cores together, in seconds: what is left after the server and the bench is someone else's load.
export const machineBusySeconds = (): number => {
  const line = fs.readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? ""
  const [user, nice, system, , , irq, softirq, steal] = line.split(/\s+/).slice(1).map(Number)
  return [user, nice, system, irq, softirq, steal].reduce((sum: number, n) => sum + (n ?? 0), 0) / clockTicks
}
