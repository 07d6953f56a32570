// The vitest configuration Stryker's vitest runner drives (`pnpm test:mutation`): the `unit` project and the opt-in
// `chaos` project, named here explicitly because the runner starts vitest without a command line, so the
// `--project` selection of vitest.config.ts cannot apply. The chaos project still refuses to run unless the script
// set DASHBOARD_CHAOS=1. Plain `vitest` and `pnpm test` never read this file.
import { defineConfig } from "vitest/config"
import { defaultProjects, optInProjects } from "./vitest.workspace.js"

export default defineConfig({
  test: {
    projects: [...defaultProjects.filter((project) => project.test.name === "unit"), optInProjects.chaos],
    testTimeout: 15_000
  }
})
