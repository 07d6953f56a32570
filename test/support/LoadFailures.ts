// A vitest reporter for mutation runs only (vitest.mutation.config.ts): a test file that fails to load gets one failed
// test carrying its load error. Stryker's vitest runner (9.6, and 10.0) builds a mutant's result from the tests it
// collected, and a file whose import throws collects none, so a module-level mutant that stops a module from loading,
// which every test importing it catches, was scored as survived (stryker-js#6150).
import type { RunnerTestCase, RunnerTestFile } from "vitest"
import type { Reporter } from "vitest/node"

export const loadTestName = "the test file loads"

/** Gives each file that failed with no task one failed test, carrying the file's errors; returns the files changed. */
export const markUnloadedFiles = (files: ReadonlyArray<RunnerTestFile>): ReadonlyArray<RunnerTestFile> =>
  files.filter((file) => file.result?.state === "fail" && file.tasks.length === 0).map((file) => {
    const errors = file.result?.errors ?? [{ name: "Error", message: `${file.filepath} failed to load` }]
    const test: RunnerTestCase = {
      type: "test",
      id: `${file.id}_load`,
      name: loadTestName,
      mode: "run",
      file,
      result: { state: "fail", errors, duration: file.result?.duration ?? 0 },
      context: undefined as never,
      meta: {},
      timeout: 0,
      annotations: []
    }
    file.tasks.push(test)
    return file
  })

// onFinished, not onTestRunEnd: it is handed the file tasks themselves, which the runner then reads.
export default class LoadFailures implements Reporter {
  onFinished(files: Array<RunnerTestFile> = []): void {
    markUnloadedFiles(files)
  }
}
