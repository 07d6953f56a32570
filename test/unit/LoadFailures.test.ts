// The mutation runs' reporter: a test file that failed to load gets one failed test, so Stryker scores the mutant that
// broke it as killed; a file that loaded is left as it is.
import { describe, expect, it } from "@effect/vitest"
import type { RunnerTestFile } from "vitest"
import LoadFailures, { loadTestName, markUnloadedFiles } from "../support/LoadFailures.js"

const file = (name: string, result: RunnerTestFile["result"], tasks: RunnerTestFile["tasks"] = []): RunnerTestFile =>
  ({
    type: "suite",
    id: name,
    name,
    filepath: `/repo/test/unit/${name}`,
    mode: "run",
    meta: {},
    tasks,
    result
  }) as unknown as RunnerTestFile

describe("the load-failure reporter of mutation runs", () => {
  it("gives a file that failed with no test one failed test carrying its load error", () => {
    const error = { name: "TypeError", message: "Cannot read properties of undefined (reading '0')" }
    const unloaded = file("StatusPage.test.ts", { state: "fail", errors: [error], duration: 12 })
    expect(markUnloadedFiles([unloaded])).toEqual([unloaded])
    expect(unloaded.tasks).toHaveLength(1)
    expect(unloaded.tasks[0]).toMatchObject({
      type: "test",
      name: loadTestName,
      mode: "run",
      file: unloaded,
      result: { state: "fail", errors: [error], duration: 12 }
    })
    expect(unloaded.tasks[0]!.suite).toBeUndefined()
    expect(unloaded.tasks[0]!.id).not.toBe(unloaded.id)
  })

  it("names the file when vitest gave no error", () => {
    const unloaded = file("Quiet.test.ts", { state: "fail" })
    markUnloadedFiles([unloaded])
    expect(unloaded.tasks[0]!.result).toMatchObject({
      state: "fail",
      errors: [{ message: "/repo/test/unit/Quiet.test.ts failed to load" }],
      duration: 0
    })
  })

  it("leaves alone a file that passed, one whose tests failed, and one that did not run", () => {
    const test = { type: "test", name: "t", mode: "run", result: { state: "fail" } } as unknown as RunnerTestFile
    const failedTests = file("Failing.test.ts", { state: "fail" }, [test])
    const files = [file("Passing.test.ts", { state: "pass" }), failedTests, file("Skipped.test.ts", undefined)]
    expect(markUnloadedFiles(files)).toEqual([])
    expect(files.map((f) => f.tasks.length)).toEqual([0, 1, 0])
  })

  it("as a reporter, marks the files vitest hands it when the run finishes", () => {
    const unloaded = file("StatusPage.test.ts", { state: "fail" })
    new LoadFailures().onFinished([unloaded])
    expect(unloaded.tasks.map((task) => task.name)).toEqual([loadTestName])
    expect(() => new LoadFailures().onFinished()).not.toThrow()
  })
})
