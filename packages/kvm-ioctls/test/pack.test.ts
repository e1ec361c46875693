import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { kvmUnavailable } from "./helpers.js";

// How users consume single packages: pack sys-util and kvm-ioctls, install
// the tarballs into a scratch project outside the monorepo with plain npm
// (the addon builds from the tarball), and run the README example there.
const root = fileURLToPath(new URL("../../..", import.meta.url));
const npmMissing = (() => {
  try {
    execFileSync("npm", ["--version"], { stdio: "ignore" });
    execFileSync("pnpm", ["--version"], { stdio: "ignore" });
    return null;
  } catch {
    return "npm or pnpm is not installed";
  }
})();
if (npmMissing) console.warn(`skipping the pack test: ${npmMissing}`);

describe.skipIf(npmMissing)("packed packages install and work outside the monorepo", () => {
  it("npm installs the sys-util and kvm-ioctls tarballs and runs the README example", { timeout: 600_000 }, () => {
    const out = mkdtempSync(join(tmpdir(), "kindling-pack-"));
    const tarballs: string[] = [];
    for (const pkg of ["sys-util", "kvm-ioctls"]) {
      const dir = join(root, "packages", pkg);
      // Build now: dist/ may be older than the sources under test.
      execFileSync("pnpm", ["run", "build"], { cwd: dir, stdio: "ignore" });
      execFileSync("pnpm", ["pack", "--pack-destination", out], { cwd: dir, stdio: "ignore" });
    }
    for (const f of readdirSync(out)) if (f.endsWith(".tgz")) tarballs.push(join(out, f));
    expect(tarballs).toHaveLength(2);

    // The packed manifest depends on a version, not on the workspace protocol.
    const manifest = execFileSync(
      "tar",
      ["-xOzf", tarballs.find((t) => t.includes("kvm-ioctls"))!, "package/package.json"],
      {
        encoding: "utf8",
      },
    );
    expect(JSON.parse(manifest).dependencies["@kindling/sys-util"]).toMatch(/^\d+\.\d+\.\d+$/);

    const project = join(out, "consumer");
    execFileSync("mkdir", ["-p", project]);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    execFileSync("npm", ["install", "--no-audit", "--no-fund", "--foreground-scripts=false", ...tarballs], {
      cwd: project,
      stdio: "ignore",
    });
    expect(existsSync(join(project, "node_modules/@kindling/sys-util/build/Release/kindling_sys.node"))).toBe(true);

    const example = readFileSync(join(root, "packages/kvm-ioctls/examples/hello.ts"), "utf8");
    const js = ts.transpileModule(example, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    writeFileSync(
      join(project, "hello.mjs"),
      `${js}\nif (process.argv[2] === "run") process.stdout.write(helloFromKvm());\n`,
    );
    if (kvmUnavailable) {
      console.warn(`not running the installed example: ${kvmUnavailable}`);
      execFileSync("node", ["-e", "import('@kindling/kvm-ioctls').then(m => { if (!m.Kvm) process.exit(1); })"], {
        cwd: project,
      });
      return;
    }
    const printed = execFileSync("node", ["hello.mjs", "run"], { cwd: project, encoding: "utf8" });
    expect(printed).toBe("Hello from KVM\n");
  });
});
