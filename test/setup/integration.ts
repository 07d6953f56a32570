// globalSetup of the integration project: it needs the real PostgreSQL and Redis, and the built dist/main.js.
import { execFileSync } from "node:child_process"
import { requireReachable } from "../support/Reachability.js"
import { root } from "../support/Service.js"

export default async function setup() {
  await requireReachable()
  execFileSync(process.execPath, ["scripts/build.mjs"], { cwd: root, stdio: "inherit" })
}
