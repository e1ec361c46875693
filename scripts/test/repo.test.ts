import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// Checks of the repository itself: what a formatter or a hand edit can break
// without any package test noticing.
const root = fileURLToPath(new URL("../..", import.meta.url));
const packages = readdirSync(join(root, "packages"));

describe("changesets", () => {
  const files = readdirSync(join(root, ".changeset")).filter((f) => f.endsWith(".md") && f !== "README.md");
  it("exist", () => {
    expect(files.length).toBeGreaterThan(0);
  });
  it.each(files)("%s has changesets' front matter naming real packages", (f) => {
    const text = readFileSync(join(root, ".changeset", f), "utf8");
    const m = /^---\n((?:"@kindling\/[a-z-]+": (?:major|minor|patch)\n)+)---\n\n\S/.exec(text);
    expect(m, `${f} must start with ---, lines "pkg": bump, ---, a blank line and a summary`).not.toBeNull();
    for (const line of m![1].trim().split("\n")) {
      const name = /"@kindling\/([a-z-]+)"/.exec(line)![1];
      expect(packages, `${f} names @kindling/${name}`).toContain(name);
    }
  });
});

describe("packages", () => {
  it.each(packages)("%s is publishable on its own", (name) => {
    const pj = JSON.parse(readFileSync(join(root, "packages", name, "package.json"), "utf8"));
    expect(pj.name).toBe(`@kindling/${name}`);
    for (const field of ["version", "license", "engines", "exports", "types", "files"]) expect(pj[field]).toBeDefined();
    expect(pj.exports["."].import).toBe("./dist/index.js");
    expect(existsSync(join(root, "packages", name, "README.md"))).toBe(true);
    for (const [dep, range] of Object.entries({ ...pj.dependencies })) {
      if (dep.startsWith("@kindling/")) expect(range).toBe("workspace:*");
      else expect(range, `${name}: ${dep} is pinned`).toMatch(/^\d+\.\d+\.\d+$/);
    }
  });
});
