#!/usr/bin/env node
/**
 * Bundles the kindling CLI from the TypeScript sources (the "kindling-source"
 * condition) into one file, for tests and scripts that must start the CLI as
 * its own process (`run --jail` starts a copy of itself): dist/ may be older
 * than the sources. Layout of the output directory:
 *   package.json, bin/kindling.mjs, build/Release/kindling_sys.node (a copy:
 *   the addon is rebuilt in place by others), policy -> the package's policy/.
 * Usage: node scripts/bundle-cli.mjs [OUTDIR]   (prints the script's path)
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const pkg = join(dirname(fileURLToPath(import.meta.url)), "..");
const repo = join(pkg, "..", "..");

export async function bundleCli(out = mkdtempSync(join(tmpdir(), "kindling-cli-"))) {
  // esbuild is a dev dependency of the workspace (seccompiler's), not of this package.
  const esbuild = createRequire(join(repo, "packages", "seccompiler", "package.json")).resolve("esbuild");
  const { build } = await import(pathToFileURL(esbuild).href);
  mkdirSync(join(out, "bin"), { recursive: true });
  mkdirSync(join(out, "build", "Release"), { recursive: true });
  writeFileSync(join(out, "package.json"), '{ "name": "kindling-cli-bundle", "private": true, "type": "module" }\n');
  // The addon may be mid-rebuild (node-gyp empties build/ first): wait for it.
  const addon = join(repo, "packages", "sys-util", "build", "Release", "kindling_sys.node");
  for (let i = 0; i < 240 && !existsSync(addon); i++) await new Promise((r) => setTimeout(r, 500));
  copyFileSync(addon, join(out, "build", "Release", "kindling_sys.node"));
  try {
    symlinkSync(join(pkg, "policy"), join(out, "policy"));
  } catch {}
  const entry = join(out, "entry.ts");
  writeFileSync(
    entry,
    `import { main } from ${JSON.stringify(join(pkg, "src", "cli.ts"))};\nprocess.exitCode = await main(process.argv.slice(2));\n`,
  );
  const script = join(out, "bin", "kindling.mjs");
  await build({
    entryPoints: [entry],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    conditions: ["kindling-source"],
    outfile: script,
    logLevel: "silent",
    // commander is CommonJS: give the bundle a require.
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  return script;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(await bundleCli(process.argv[2]));
}
