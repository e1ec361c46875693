import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { helloFromKvm } from "../examples/hello.js";
import { kvmUnavailable } from "./helpers.js";

describe("README example", () => {
  it("is examples/hello.ts verbatim", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const example = readFileSync(new URL("../examples/hello.ts", import.meta.url), "utf8");
    expect(readme).toContain(example.trim());
  });
  it.skipIf(kvmUnavailable)("prints Hello from KVM", () => {
    expect(helloFromKvm()).toBe("Hello from KVM\n");
  });
});
