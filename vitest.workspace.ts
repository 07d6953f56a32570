// The test projects. `unit` and `integration` are the default suite; `chaos`, `faults` and `browser` are opt-in and
// only join a run when named with `--project` (see vitest.config.ts), and refuse to run without their variable.
import type { TestProjectInlineConfiguration } from "vitest/config"

const project = (name: string, include: ReadonlyArray<string>, extra: Record<string, unknown> = {}) =>
  ({
    extends: true,
    test: { name, include: [...include], ...extra }
  }) satisfies TestProjectInlineConfiguration

export const defaultProjects = [
  project("unit", ["test/unit/**/*.test.ts"]),
  project("integration", ["test/integration/**/*.test.ts"], { testTimeout: 30_000 })
]

export const optInProjects = {
  chaos: project("chaos", ["test/chaos/**/*.test.ts"], { setupFiles: ["test/chaos/optIn.ts"] }),
  faults: project("faults", ["test/faults/**/*.test.ts"], {
    setupFiles: ["test/faults/optIn.ts"],
    testTimeout: 60_000,
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
