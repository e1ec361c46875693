import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { tour } from "../examples/memfd.js";

describe("README example", () => {
  it("is examples/memfd.ts verbatim", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const example = readFileSync(new URL("../examples/memfd.ts", import.meta.url), "utf8");
    expect(readme).toContain(example.trim());
  });
  it("runs", () => {
    expect(tour()).toEqual({ seen: 42, signalled: 3n, error: "EUNMAPPED EBADF" });
  });
});
