// globalSetup of the lb project: real PostgreSQL and Redis behind its proxies, Debian's haproxy, and dist/main.js
// built from the source under test (the suite spawns it).
import { execFileSync } from "node:child_process"
import { requireReachable } from "../support/Reachability.js"
import { root } from "../support/Service.js"

export default async function setup() {
  await requireReachable()
  try {
    execFileSync("haproxy", ["-v"], { stdio: "ignore" })
  } catch {
    throw new Error("haproxy is not on the PATH: `apt-get install haproxy` (.ci/run installs it when missing)")
  }
  execFileSync(process.execPath, ["scripts/build.mjs"], { cwd: root, stdio: "inherit" })
}
