import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { kvmAvailable, Sandbox } from "@kindling/vmm-reference";
import { describe, expect, it } from "vitest";
import { ccMissing, compile } from "./programs.js";

const dist = fileURLToPath(new URL("../dist/index.js", import.meta.url));
const distMissing = existsSync(dist) ? null : "the package is not built (dist/ missing)";
const skip = ccMissing ?? (kvmAvailable() ? null : "/dev/kvm is not usable");
if (skip) console.warn(`skipping library tests: ${skip}`);

describe.skipIf(skip)("Sandbox library API", () => {
  const hello = skip
    ? ""
    : compile(
        "lib-hello",
        '#include <stdio.h>\nint main(int c, char **v){ printf("hi %s\\n", c > 1 ? v[1] : "?"); return 5; }',
      );

  it("captures stdout and the status in this thread (runSync)", () => {
    const r = Sandbox.createSync({ stdio: "pipe" }).runSync([hello, "there"]);
    expect(r.status).toBe(5);
    expect(r.stdout?.toString()).toBe("hi there\n");
    expect(r.platform).toBe("kvm");
  });

  it.skipIf(distMissing)("runs in a worker from the built package, leaving the event loop free", async () => {
    const { Sandbox: Built } = (await import(dist)) as typeof import("@kindling/vmm-reference");
    const sb = await Built.create({ stdio: "pipe", stats: true });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const lines: string[] = [];
    const traced = await Built.create({ stdio: "pipe", strace: (l) => lines.push(l) });
    const [r, t] = await Promise.all([sb.run([hello, "worker"]), traced.run([hello, "traced"])]);
    clearInterval(timer);
    expect(r.status).toBe(5);
    expect(r.stdout?.toString()).toBe("hi worker\n");
    expect(typeof r.stats).toBe("string");
    expect(t.stdout?.toString()).toBe("hi traced\n");
    expect(lines.some((l) => l.startsWith("exit_group(5)"))).toBe(true);
    expect(ticks).toBeGreaterThan(0);
  });
});
