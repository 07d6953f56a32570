// The vitest configuration Stryker's vitest runner drives (`pnpm test:mutation`): the `unit` project and the opt-in
// `chaos` project, named here explicitly because the runner starts vitest without a command line, so the
// `--project` selection of vitest.config.ts cannot apply. The chaos project still refuses to run unless the script
// set DASHBOARD_CHAOS=1. Plain `vitest` and `pnpm test` never read this file.
import { defineConfig } from "vitest/config"
import { BaseSequencer, type TestSpecification } from "vitest/node"
import { defaultProjects, optInProjects } from "./vitest.workspace.js"

// Stryker runs each mutant's tests one file at a time and stops at the first failure, so the files that test pure
// functions in milliseconds go first and the ones that serve HTTP or spawn processes last: most mutants then die in
// the cheap files. A file not listed runs in the middle.
const order = [
  ["FailureCategories", "PostgresErrors", "RedisErrors", "Dependency.test", "ServerParts", "ProbeBodies"],
  ["Readiness.test", "ReadinessLog", "AppConfig"],
  [],
  ["Shutdown", "ServerRuntime", "DatabaseLayer", "RedisLayer", "TenantSchema"],
  ["HttpApp", "Probes.test", "Http.test", "ListenerLimits", ".chaos."],
  ["HttpEdge.fuzz", "Deploy", "Reachability"]
]
const cost = (file: TestSpecification) => {
  const tier = order.findIndex((names) => names.some((name) => file.moduleId.includes(name)))
  return tier === -1 ? 2 : tier
}

class CheapFirst extends BaseSequencer {
  override sort(files: Array<TestSpecification>) {
    return Promise.resolve(
      [...files].sort((a, b) => cost(a) - cost(b) || a.moduleId.localeCompare(b.moduleId))
    )
  }
}

export default defineConfig({
  test: {
    projects: [...defaultProjects.filter((project) => project.test.name === "unit"), optInProjects.chaos],
    sequence: { sequencer: CheapFirst },
    // A test file that cannot load must kill the mutant that broke it, not let it survive (see LoadFailures.ts).
    reporters: ["default", "./test/support/LoadFailures.ts"],
    testTimeout: 15_000
  }
})
