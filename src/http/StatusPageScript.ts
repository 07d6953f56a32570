// The status page's script (src/client/statusPage.ts) as served. `pnpm build` compiles it into dist/main.js as
// STATUS_PAGE_SCRIPT; when the sources run unbundled (tests, `pnpm dev`), it is compiled here once, at load, with
// esbuild (a dev dependency, never loaded by the bundle).
import type * as Esbuild from "esbuild"
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"

declare const STATUS_PAGE_SCRIPT: string | undefined

/** How the script is compiled, here and by scripts/build.mjs (which keeps its own copy: it cannot import .ts). */
export const clientBuildOptions = {
  bundle: true,
  format: "iife",
  target: "es2020",
  minify: true,
  legalComments: "none"
} as const satisfies Esbuild.BuildOptions

const compile = (): string => {
  const esbuild = createRequire(import.meta.url)("esbuild") as typeof Esbuild
  const result = esbuild.buildSync({
    ...clientBuildOptions,
    entryPoints: [fileURLToPath(new URL("../client/statusPage.ts", import.meta.url))],
    write: false
  })
  return result.outputFiles[0]!.text
}

export const script: string = typeof STATUS_PAGE_SCRIPT === "string" ? STATUS_PAGE_SCRIPT : compile()
