// The test projects. `unit` and `integration` are the default suite; `chaos`, `faults`, `lb`, `prometheus` and `browser`
// are opt-in and only join a run when named with `--project` (see vitest.config.ts), and refuse to run without their
// variable.
import type { TestProjectInlineConfiguration } from "vitest/config"

const project = (name: string, include: ReadonlyArray<string>, extra: Record<string, unknown> = {}) =>
  ({
    extends: true,
    test: { name, include: [...include], ...extra }
  }) satisfies TestProjectInlineConfiguration

export const defaultProjects = [
  project("unit", ["test/unit/**/*.test.ts"]),
  // Its globalSetup checks that PostgreSQL and Redis are reachable and builds dist/main.js.
  project("integration", ["test/integration/**/*.test.ts"], {
    testTimeout: 30_000,
    globalSetup: ["test/setup/integration.ts"]
  })
]

export const optInProjects = {
  chaos: project("chaos", ["test/chaos/**/*.test.ts"], { setupFiles: ["test/chaos/optIn.ts"] }),
  faults: project("faults", ["test/faults/**/*.test.ts"], {
    setupFiles: ["test/faults/optIn.ts"],
    globalSetup: ["test/setup/dependencies.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: false
  }),
  // Real processes behind a real HAProxy: files run one at a time so that their timings do not share the two cores.
  lb: project("lb", ["test/lb/**/*.test.ts"], {
    setupFiles: ["test/lb/optIn.ts"],
    globalSetup: ["test/setup/lb.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: false
  }),
  prometheus: project("prometheus", ["test/prometheus/**/*.test.ts"], {
    setupFiles: ["test/prometheus/optIn.ts"],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    fileParallelism: false
  }),
  browser: project("browser", ["test/browser/**/*.test.ts"], {
    setupFiles: ["test/browser/optIn.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: false
  })
}

export default [...defaultProjects, ...Object.values(optInProjects)]
