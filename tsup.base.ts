import { defineConfig, type Options } from "tsup";

/**
 * The one tsup setup every package shares: ESM + .d.ts for Node.js 20.
 * Declarations are built outside the composite project (tsc -b owns that) and
 * resolve sibling packages through their built `dist`, not their sources.
 */
export function packageConfig(entry: string[], extra: Partial<Options> = {}) {
  return defineConfig({
    entry,
    format: ["esm"],
    dts: { compilerOptions: { composite: false, incremental: false, customConditions: [] } },
    clean: true,
    sourcemap: true,
    target: "node20",
    ...extra,
  });
}
