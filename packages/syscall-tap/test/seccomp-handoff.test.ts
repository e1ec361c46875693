import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { Resume, SeccompPlatform, type SyscallServer } from "@kindling/syscall-tap";
import { describe, expect, it } from "vitest";
import { compile, hasCompiler } from "./seccomp-helpers.js";

const addon = join(dirname(fileURLToPath(import.meta.url)), "../../sys-util/build/Release/kindling_sys.node");

// The plain (unjailed) spawn once let every notification through until its error pipe reported
// EOF. Another thread's fork holds a copy of that pipe's write end until it execs, and a jailed
// spawn's init holds one for its whole set-up: the program's first calls then ran unserved. A
// worker thread that starts jailed inits all the time keeps such a copy alive most of the time.
describe.skipIf(!hasCompiler("cc") || !existsSync(addon))("seccomp spawn handoff", () => {
  it("every call of an unjailed program reaches the server while another thread spawns", {
    timeout: 60_000,
  }, async () => {
    const prog = compile("handoff", "#include <unistd.h>\nint main(void) { getppid(); getppid(); return 0; }\n");
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(
      `const { workerData } = require("node:worker_threads");
       const m = require(workerData.addon);
       const stop = workerData.stop;
       while (Atomics.load(stop, 0) === 0) {
         const r = m.spawn({ file: "/bin/true", argv: ["/bin/true"], envp: [], fds: [-1, -1, -1],
                             jail: { namespaces: true, emptyRoot: false } });
         m.waitpid(r.initPid, 0);
         m.close(r.statusFd);
       }`,
      { eval: true, workerData: { addon, stop } },
    );
    const ended = new Promise((resolve, reject) => {
      worker.once("exit", resolve);
      worker.once("error", reject);
    });
    try {
      await new Promise((r) => setTimeout(r, 200)); // the worker is spawning
      const counts = new Set<number>();
      for (let i = 0; i < 100; i++) {
        let getppids = 0;
        const server: SyscallServer = {
          onSyscall(_t, ev, outcome) {
            if (ev.nr === 110) getppids++;
            outcome.resume = Resume.Continue;
            return 0;
          },
          onFault() {},
        };
        const proc = SeccompPlatform.spawn({ file: prog, argv: [prog], env: [], fds: [-1, -1, -1], jail: false });
        expect(proc.run(server).exitCode).toBe(0);
        expect(getppids).toBe(2);
        counts.add(proc.served);
      }
      expect([...counts]).toHaveLength(1);
    } finally {
      Atomics.store(stop, 0, 1);
      await ended;
    }
  });
});
