import { defineConfig } from "vitest/config"
import { defaultProjects, optInProjects } from "./vitest.workspace.js"

// An opt-in project joins the run only when it is named on the command line (`--project chaos`), so plain
// `vitest`, `pnpm test` and editor runners never see it.
const requested = (name: string) =>
  process.argv.some((arg, i) => arg === `--project=${name}` || (arg === "--project" && process.argv[i + 1] === name))

export default defineConfig({
  test: {
    projects: [
      ...defaultProjects,
      ...Object.entries(optInProjects).filter(([name]) => requested(name)).map(([, project]) => project)
    ],
    testTimeout: 15_000
  }
})
