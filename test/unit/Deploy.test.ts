// deploy/: every Kubernetes manifest validates against the Kubernetes schemas, its probe timings agree with the
// service's budgets and shutdown settings, the Dockerfile ships a non-root Node 24 image with a curl-free
// HEALTHCHECK, and the HAProxy example parses.
import { describe, expect, it } from "@effect/vitest"
import type * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { Deployment } from "kubernetes-models/apps/v1/Deployment"
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget"
import { Service } from "kubernetes-models/v1/Service"
import { execFileSync, spawn } from "node:child_process"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import * as http from "node:http"
import type * as net from "node:net"
import { fileURLToPath } from "node:url"
import { parseAllDocuments } from "yaml"
import * as AppConfig from "../../src/AppConfig.js"
import { missingTools } from "../support/Reachability.js"

const deployDir = fileURLToPath(new URL("../../deploy/", import.meta.url))
const kubernetesDir = `${deployDir}kubernetes/`

const models = { Deployment, Service, PodDisruptionBudget } as const

interface Manifest {
  readonly file: string
  readonly object: Record<string, unknown>
}

const manifests: ReadonlyArray<Manifest> = readdirSync(kubernetesDir)
  .filter((file) => file.endsWith(".yaml"))
  .sort()
  .flatMap((file) =>
    parseAllDocuments(readFileSync(`${kubernetesDir}${file}`, "utf8")).map((document) => {
      if (document.errors.length > 0) throw new Error(`${file}: ${document.errors.join("; ")}`)
      return { file, object: document.toJS() as Record<string, unknown> }
    })
  )

const validate = (object: Record<string, unknown>): void => {
  const Model = models[object.kind as keyof typeof models]
  if (Model === undefined) throw new Error(`no schema for kind ${String(object.kind)}`)
  new Model(object as never).validate()
}

const ofKind = <K extends keyof typeof models>(kind: K) =>
  manifests.filter((m) => m.object.kind === kind).map((m) =>
    new models[kind](m.object as never) as InstanceType<(typeof models)[K]>
  )

type Env = ReadonlyMap<string, string>

/** The service's settings as the manifest sets them: its own parser where AppConfig has the setting. */
const settingsOf = (env: Env) => {
  const read = <A>(config: Config.Config<A>) =>
    Effect.runSync(Effect.withConfigProvider(config, ConfigProvider.fromMap(new Map(env))))
  return {
    readinessTimeoutMillis: Duration.toMillis(read(AppConfig.readinessTimeout)),
    readinessIntervalMillis: Duration.toMillis(read(AppConfig.readinessInterval)),
    shutdownDrainMillis: Duration.toMillis(read(AppConfig.shutdownDrain)),
    shutdownTimeoutMillis: Duration.toMillis(read(AppConfig.shutdownTimeout)),
    readyzNotReadyStatus: read(AppConfig.notReadyStatus),
    port: read(AppConfig.port)
  }
}

/** Everything wrong with a Deployment of the service, as sentences; empty when it agrees with the service. */
const deploymentProblems = (deployment: Deployment): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const check = (ok: boolean, problem: string) => ok || problems.push(problem)
  const pod = deployment.spec?.template.spec
  const container = pod?.containers[0]
  if (pod === undefined || container === undefined) return ["no pod template with a container"]

  const env: Env = new Map((container.env ?? []).flatMap((e) => (e.value === undefined ? [] : [[e.name, e.value]])))
  const settings = settingsOf(env)
  const { readinessProbe: readiness, livenessProbe: liveness, startupProbe: startup } = container

  check(settings.readyzNotReadyStatus === 503, "READYZ_NOT_READY_STATUS must be 503: the kubelet reads only codes")
  check(liveness?.httpGet?.path === "/livez", "the liveness probe must GET /livez")
  check(readiness?.httpGet?.path === "/readyz", "the readiness probe must GET /readyz")
  check(startup?.httpGet !== undefined, "a startup probe must GET an endpoint")
  const portNames = new Set((container.ports ?? []).map((p) => p.name))
  const ports = new Set((container.ports ?? []).map((p) => p.containerPort))
  check(ports.has(settings.port), `the container must expose PORT ${settings.port}`)
  for (const probe of [startup, liveness, readiness]) {
    const port = probe?.httpGet?.port
    check(
      typeof port === "number" ? ports.has(port) : portNames.has(port),
      `probe port ${String(port)} is not a container port`
    )
  }

  // Kubernetes' defaults: periodSeconds 10, timeoutSeconds 1, failureThreshold 3.
  const timeoutMillis = (readiness?.timeoutSeconds ?? 1) * 1000
  check(
    timeoutMillis > settings.readinessTimeoutMillis,
    `readiness timeoutSeconds (${timeoutMillis} ms) must exceed READINESS_TIMEOUT_MS (${settings.readinessTimeoutMillis})`
  )
  const notReadySeenMillis = (readiness?.periodSeconds ?? 10) * (readiness?.failureThreshold ?? 3) * 1000
  check(
    notReadySeenMillis < settings.shutdownDrainMillis,
    `readiness periodSeconds × failureThreshold (${notReadySeenMillis} ms) must be under SHUTDOWN_DRAIN_MS (${settings.shutdownDrainMillis})`
  )
  const graceMillis = (pod.terminationGracePeriodSeconds ?? 30) * 1000
  const shutdownMillis = settings.shutdownDrainMillis + settings.shutdownTimeoutMillis
  check(
    graceMillis > shutdownMillis,
    `terminationGracePeriodSeconds (${graceMillis} ms) must exceed SHUTDOWN_DRAIN_MS + SHUTDOWN_TIMEOUT_MS (${shutdownMillis})`
  )

  for (const name of ["DATABASE_URL", "REDIS_URL"]) {
    const variable = container.env?.find((e) => e.name === name)
    check(variable?.valueFrom?.secretKeyRef !== undefined, `${name} must come from a Secret`)
  }
  const { requests, limits } = container.resources ?? {}
  check(requests?.cpu !== undefined && requests.memory !== undefined, "cpu and memory requests must be set")
  check(limits?.memory !== undefined, "a memory limit must be set")
  check(
    (container.securityContext?.runAsNonRoot ?? pod.securityContext?.runAsNonRoot) === true,
    "runAsNonRoot must be true"
  )
  check(container.securityContext?.readOnlyRootFilesystem === true, "readOnlyRootFilesystem must be true")
  check(container.securityContext?.allowPrivilegeEscalation === false, "allowPrivilegeEscalation must be false")
  return problems
}

describe("Kubernetes manifests", () => {
  it("deploy/kubernetes has a Deployment, a Service and a PodDisruptionBudget", () => {
    expect(manifests.map((m) => m.object.kind).sort()).toEqual(["Deployment", "PodDisruptionBudget", "Service"])
  })

  it.each(manifests.map((m) => [`${m.file} (${String(m.object.kind)})`, m] as const))(
    "%s validates against the Kubernetes schema",
    (_, manifest) => {
      expect(() => validate(manifest.object)).not.toThrow()
    }
  )

  it("the schema validation rejects a broken manifest", () => {
    const deployment = manifests.find((m) => m.object.kind === "Deployment")!.object
    const broken = structuredClone(deployment) as { spec: { replicas: unknown; template: { spec: object } } }
    broken.spec.replicas = "two"
    expect(() => validate(broken)).toThrow(/replicas/)
    const misplaced = structuredClone(deployment) as { spec: { template: { spec: { containers: unknown } } } }
    misplaced.spec.template.spec.containers = [{ image: "dashboard" }]
    expect(() => validate(misplaced)).toThrow(/name/)
  })

  it("the Deployment's probes, grace period, secrets, resources and security agree with the service", () => {
    const [deployment] = ofKind("Deployment")
    expect(deploymentProblems(deployment!)).toEqual([])
  })

  it("a Deployment whose timings disagree with the service is caught", () => {
    const [deployment] = ofKind("Deployment")
    const broken = new Deployment(structuredClone(deployment!.toJSON()))
    const pod = broken.spec!.template.spec!
    const container = pod.containers[0]!
    pod.terminationGracePeriodSeconds = 15
    container.readinessProbe = { ...container.readinessProbe, periodSeconds: 5, timeoutSeconds: 1 }
    container.env = container.env!.map((e) =>
      e.name === "READINESS_TIMEOUT_MS"
        ? { ...e, value: "1000" }
        : e.name === "READYZ_NOT_READY_STATUS"
        ? { name: e.name }
        : e
    )
    expect(deploymentProblems(broken)).toEqual([
      "READYZ_NOT_READY_STATUS must be 503: the kubelet reads only codes",
      "readiness timeoutSeconds (1000 ms) must exceed READINESS_TIMEOUT_MS (1000)",
      "readiness periodSeconds × failureThreshold (10000 ms) must be under SHUTDOWN_DRAIN_MS (5000)",
      "terminationGracePeriodSeconds (15000 ms) must exceed SHUTDOWN_DRAIN_MS + SHUTDOWN_TIMEOUT_MS (15000)"
    ])
  })

  it("the Service and the PodDisruptionBudget select the Deployment's pods, on a port it exposes", () => {
    const [deployment] = ofKind("Deployment")
    const [service] = ofKind("Service")
    const [budget] = ofKind("PodDisruptionBudget")
    const labels = deployment!.spec!.template.metadata!.labels!
    expect(labels).toMatchObject(deployment!.spec!.selector.matchLabels!)
    expect(labels).toMatchObject(service!.spec!.selector!)
    expect(labels).toMatchObject(budget!.spec!.selector!.matchLabels!)
    const portNames = deployment!.spec!.template.spec!.containers[0]!.ports!.map((p) => p.name)
    for (const port of service!.spec!.ports!) expect(portNames).toContain(port.targetPort)
    expect(budget!.spec!.maxUnavailable ?? 0).toBeLessThan(deployment!.spec!.replicas!)
  })
})

interface Instruction {
  readonly keyword: string
  readonly args: string
}

/** Dockerfile instructions, continuation lines joined, comments dropped. */
const parseDockerfile = (text: string): ReadonlyArray<Instruction> =>
  text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const [keyword = "", ...rest] = line.split(/\s+/)
      return { keyword: keyword.toUpperCase(), args: rest.join(" ") }
    })

describe("Dockerfile", () => {
  const instructions = parseDockerfile(readFileSync(`${deployDir}Dockerfile`, "utf8"))
  const argDefaults = new Map(
    instructions.filter((i) => i.keyword === "ARG").map((i) => i.args.split("=") as [string, string])
  )
  const stages = instructions.reduce<Array<Array<Instruction>>>((all, instruction) => {
    if (instruction.keyword === "FROM") all.push([])
    all.at(-1)?.push(instruction)
    return all
  }, [])
  const final = stages.at(-1) ?? []
  const finalOf = (keyword: string) => final.filter((i) => i.keyword === keyword)

  it("every stage builds on Node 24", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2)
    for (const [from] of stages) {
      const image = from!.args.split(/\s+/)[0]!.replace(/^\$\{(\w+)\}$/, (_, name: string) => argDefaults.get(name)!)
      expect(image).toMatch(/^node:24(\.\d+){0,2}-/)
    }
  })

  it("installs with the pinned pnpm from the lockfile", () => {
    const packageJson = JSON.parse(readFileSync(`${deployDir}../package.json`, "utf8")) as { packageManager: string }
    const runs = instructions.filter((i) => i.keyword === "RUN").map((i) => i.args).join("\n")
    expect(runs).toContain(packageJson.packageManager)
    expect(runs).toContain("pnpm install --frozen-lockfile")
  })

  it("everything it copies from the build context exists and passes .dockerignore", () => {
    const allowed = readFileSync(`${deployDir}../.dockerignore`, "utf8").split("\n").filter((line) =>
      line.startsWith("!")
    ).map((line) => line.slice(1).replace(/\/$/, ""))
    const sources = instructions
      .filter((i) => i.keyword === "COPY" && !i.args.startsWith("--from"))
      .flatMap((i) => i.args.split(/\s+/).filter((arg) => !arg.startsWith("--")).slice(0, -1))
    expect(sources.length).toBeGreaterThan(0)
    for (const source of sources) {
      expect(existsSync(`${deployDir}../${source}`), source).toBe(true)
      expect(allowed, source).toContain(source.replace(/\/$/, ""))
    }
  })

  it("runs the service with the Node flags of `pnpm start`", () => {
    const packageJson = JSON.parse(readFileSync(`${deployDir}../package.json`, "utf8")) as {
      scripts: Record<string, string>
    }
    const start = /\bnode((?:\s+--\S+)*)\s+dist\/main\.js/.exec(packageJson.scripts.start!)
    const flags = start![1]!.trim().split(/\s+/)
    expect(flags).toContain("--max-semi-space-size=4")
    expect(flags).toContain("--heap-growing-percent=100")
    expect(JSON.parse(finalOf("CMD").at(-1)!.args)).toEqual(["node", ...flags, "dist/main.js"])
  })

  it("the final stage runs as a non-root user, copies only the bundle, and says how to stop and check it", () => {
    const user = finalOf("USER").at(-1)?.args ?? "root"
    expect(user.split(":")[0]).not.toMatch(/^(root|0)$/)
    for (const copy of finalOf("COPY")) expect(copy.args).not.toMatch(/node_modules|\s\.\s/)
    expect(finalOf("EXPOSE").map((i) => i.args)).toEqual(["3000"])
    expect(finalOf("STOPSIGNAL").map((i) => i.args)).toEqual(["SIGTERM"])
    const [healthcheck] = finalOf("HEALTHCHECK")
    expect(healthcheck?.args).toMatch(/CMD/)
    expect(healthcheck?.args).not.toMatch(/curl|wget/)
  })
})

/** The exit code of `node deploy/healthcheck.mjs` against a server whose /livez answers `status`, or a closed port. */
const healthcheckExit = async (livez: number | "closed"): Promise<number | null> => {
  const server = http.createServer((request, response) =>
    response.writeHead(request.url === "/livez" && livez !== "closed" ? livez : 404).end()
  )
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as net.AddressInfo
  if (livez === "closed") await new Promise((resolve) => server.close(resolve))
  try {
    const child = spawn(process.execPath, [`${deployDir}healthcheck.mjs`], {
      env: { ...process.env, PORT: String(port) },
      stdio: "ignore"
    })
    return await new Promise((resolve) => child.once("exit", resolve))
  } finally {
    if (livez !== "closed") await new Promise((resolve) => server.close(resolve))
  }
}

describe("deploy/healthcheck.mjs", () => {
  it("exits 0 when /livez answers 200, 1 when it answers 503 or nothing listens", async () => {
    expect(await healthcheckExit(200)).toBe(0)
    expect(await healthcheckExit(503)).toBe(1)
    expect(await healthcheckExit("closed")).toBe(1)
  })
})

describe("deploy/haproxy/haproxy.cfg", () => {
  const file = `${deployDir}haproxy/haproxy.cfg`

  it("is a valid HAProxy configuration", () => {
    expect(missingTools([{ command: "haproxy", debianPackage: "haproxy" }])).toBeUndefined()
    const output = execFileSync("haproxy", ["-c", "-f", file], { encoding: "utf8" })
    expect(output).toContain("Configuration file is valid")
  })

  it("checks /readyz within the check budget and marks a draining server DOWN before the drain ends", () => {
    const config = readFileSync(file, "utf8")
    const settings = settingsOf(new Map())
    const seconds = (text: string | undefined) => Number(text ?? Number.NaN) * 1000
    expect(config).toMatch(/^\s*option httpchk GET \/readyz$/m)
    const [, inter, fall] = /^\s*default-server inter (\d+)s fall (\d+)/m.exec(config) ?? []
    expect(seconds(inter) * Number(fall)).toBeLessThan(settings.shutdownDrainMillis)
    const [, checkTimeout] = /^\s*timeout check (\d+)s$/m.exec(config) ?? []
    expect(seconds(checkTimeout)).toBeGreaterThan(settings.readinessTimeoutMillis)
  })
})
