// globalSetup of the faults project: it needs the real PostgreSQL and Redis behind its proxies.
import { requireReachable } from "../support/Reachability.js"

export default async function setup() {
  await requireReachable()
}
