import { spawn as nodeSpawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { makePidsCgroup, removeCgroup } from "../src/pids-cgroup.js";

const made = process.getuid?.() === 0 ? makePidsCgroup(16) : { cgroup: null, why: "not root" };

describe.skipIf(made.cgroup === null)(`pids cgroup removal (${made.why || "available"})`, () => {
  it("kills what is left in the cgroup (through pidfds, or cgroup.kill) and removes it", {
    timeout: 20_000,
  }, async () => {
    const cg = made.cgroup!;
    const kids = [0, 1, 2].map(() => nodeSpawn("sleep", ["60"], { stdio: "ignore" }));
    const ended = kids.map((k) => new Promise<NodeJS.Signals | null>((r) => k.once("exit", (_c, s) => r(s))));
    await Promise.all(kids.map((k) => new Promise((r) => k.once("spawn", r))));
    for (const k of kids) writeFileSync(`${cg.path}/cgroup.procs`, String(k.pid));
    expect(readFileSync(`${cg.path}/cgroup.procs`, "latin1").split("\n").filter(Boolean)).toHaveLength(3);
    expect(removeCgroup(cg.path)).toBe(true);
    expect(existsSync(cg.path)).toBe(false);
    expect(await Promise.all(ended)).toEqual(["SIGKILL", "SIGKILL", "SIGKILL"]);
  });
});
