// globalSetup of the integration project: it needs the real PostgreSQL and Redis, haproxy, promtool and prometheus, and
// the built dist/main.js.
import { execFileSync } from "node:child_process"
import { requireDefaultSuite } from "../support/Reachability.js"
import { root } from "../support/Service.js"

export default async function setup() {
  await requireDefaultSuite()
  execFileSync(process.execPath, ["scripts/build.mjs"], { cwd: root, stdio: "inherit" })
}
