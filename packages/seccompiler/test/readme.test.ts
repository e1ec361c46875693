import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { denyMkdir } from "../examples/deny-mkdir.js";

describe("README example", () => {
  it("is examples/deny-mkdir.ts verbatim", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const example = readFileSync(new URL("../examples/deny-mkdir.ts", import.meta.url), "utf8");
    expect(readme).toContain(example.trim());
  });
  it.skipIf(process.arch !== "x64")("denies mkdir in a child and explains why", () => {
    const r = denyMkdir();
    expect(r.decision).toEqual({ errno: 1 });
    expect(r.executed).toBeGreaterThan(3);
    expect(r.exitCode).toBe(1);
    expect(r.created).toBe(false);
    expect(r.futexInstructions).toBeGreaterThan(5);
  });
});
