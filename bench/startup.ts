// Time from spawn to the first /healthz 200, for the service and for raw node:http in the same run: what an
// orchestrator scaling out waits on. Each start is timed alone (nothing else of the bench runs meanwhile), the two
// servers alternate so that a busy moment costs both, and the median of the runs is reported.
import * as http from "node:http"
import { freePort, serviceNodeFlags, start, stop } from "./children.js"

const firstHealthz = (port: number, began: number, deadlineMs: number): Promise<number> =>
  new Promise((resolve, reject) => {
    const attempt = () => {
      if (performance.now() - began > deadlineMs) return reject(new Error(`no /healthz 200 within ${deadlineMs} ms`))
      const request = http.get({ host: "127.0.0.1", port, path: "/healthz", agent: false }, (response) => {
        response.resume()
        if (response.statusCode === 200) resolve(performance.now() - began)
        else setTimeout(attempt, 1)
      })
      request.on("error", () => setTimeout(attempt, 1))
    }
    attempt()
  })

const once = async (command: ReadonlyArray<string>, env: NodeJS.ProcessEnv): Promise<number> => {
  const port = await freePort()
  const began = performance.now()
  const child = start("startup", process.execPath, command, { ...env, PORT: String(port), HOST: "127.0.0.1" })
  try {
    return await firstHealthz(port, began, 10_000)
  } finally {
    await stop(child)
  }
}

export interface StartupResult {
  readonly serviceMs: ReadonlyArray<number>
  readonly rawMs: ReadonlyArray<number>
}

export const measureStartup = async (
  service: string,
  raw: string,
  env: NodeJS.ProcessEnv,
  runs: number
): Promise<StartupResult> => {
  const serviceMs: Array<number> = []
  const rawMs: Array<number> = []
  for (let i = 0; i < runs; i++) {
    serviceMs.push(await once([...serviceNodeFlags, service], env))
    rawMs.push(await once([raw], env))
  }
  return { serviceMs, rawMs }
}
