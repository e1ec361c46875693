/**
 * Debian's busybox-static on the kvm platform, served by the libos: applets
 * that exercise the core (process, memory, signals, time) give the same
 * stdout and exit status as the same command run natively.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { constants } from "node:os";
import { hostRlimits, Libos, SandboxFs } from "@kindling/libos";
import { loadStaticProgram } from "@kindling/linux-loader";
import { AT, KvmPlatform, writeInitialStack } from "@kindling/syscall-tap";
import { describe, expect, it } from "vitest";

const busybox = ["/usr/bin/busybox", "/bin/busybox"].find((p) => existsSync(p));
const skip = (() => {
  if (!busybox) return "busybox-static is not installed";
  try {
    KvmPlatform.create({ memorySize: 8 << 20 }).close();
  } catch (e) {
    return `/dev/kvm is not usable (${(e as Error).message})`;
  }
  return null;
})();
if (skip) console.warn(`skipping libos busybox tests: ${skip}`);

const ENV = ["PATH=/bin:/usr/bin", "HOME=/", "LC_ALL=C"];
const MEM = 64 << 20;
const STACK = 8 << 20;

function sandboxed(argv: string[]): { status: number; stdout: string; unsupported: string[] } {
  const exe = busybox!;
  const vm = KvmPlatform.create({ memorySize: MEM });
  try {
    const prog = loadStaticProgram(readFileSync(exe), vm.programTarget);
    const sp = writeInitialStack(vm.memory, MEM - 4096, {
      argv,
      envp: ENV,
      auxv: [
        [AT.PHDR, Number(prog.phdrAddr)],
        [AT.PHENT, prog.phentsize],
        [AT.PHNUM, prog.phnum],
        [AT.PAGESZ, 4096],
        [AT.ENTRY, Number(prog.entry)],
      ],
      random: crypto.getRandomValues(new Uint8Array(16)),
      execfn: exe,
    });
    vm.start(Number(prog.entry), sp);
    let stdout = "";
    const unsupported: string[] = [];
    const brk = Number(prog.brkStart);
    const k = new Libos({
      argv,
      exe,
      memory: {
        base: brk,
        size: MEM - STACK - brk,
        limit: MEM,
        regions: [
          { start: Number(prog.loadStart), length: brk - Number(prog.loadStart), kind: "image", prot: 5, name: exe },
          { start: MEM - STACK, length: STACK, kind: "stack", prot: 3, name: "[stack]" },
        ],
      },
      stdio: [
        "null",
        {
          write: (b) => {
            stdout += Buffer.from(b).toString();
            return b.length;
          },
        },
        "null",
      ],
      fs: new SandboxFs({ root: "/" }),
      identity: { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 },
      rlimits: hostRlimits(),
      onUnsupported: (n) => unsupported.push(n),
    });
    const r = vm.run(k, { wallMs: 20_000 });
    expect(r).toEqual({ kind: "exited" });
    return { status: k.shellStatus, stdout, unsupported };
  } finally {
    vm.close();
  }
}

function native(argv: string[]): { status: number; stdout: string } {
  const r = spawnSync(busybox!, argv.slice(1), {
    argv0: argv[0],
    env: Object.fromEntries(ENV.map((e) => e.split("="))),
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
  const status = r.status ?? 128 + (r.signal ? constants.signals[r.signal] : 0);
  return { status, stdout: r.stdout };
}

const CASES: string[][] = [
  ["echo", "hello", "world"],
  ["sh", "-c", "echo $((6*7)); x=abc; echo $x$x"],
  ["sh", "-c", "trap 'echo got USR1' USR1; kill -USR1 $$; echo after"],
  ["sh", "-c", "kill -TERM $$; echo unreachable"],
  ["sh", "-c", "ulimit -n; ulimit -s; ulimit -c"],
  ["sh", "-c", "exit 42"],
  ["seq", "2", "5"],
  ["expr", "7", "*", "6"],
  ["awk", "BEGIN { s = 0; for (i = 0; i < 100000; i++) s += i; print s }"],
  ["sleep", "0.02"],
  ["true"],
  ["false"],
  ["basename", "/a/b/c.txt", ".txt"],
  ["printf", "%05d|%s\\n", "42", "x"],
  ["sort", "-n", "/proc/self/does-not-exist"],
];

describe.skipIf(skip !== null)("busybox applets: libos on kvm vs native", () => {
  for (const argv of CASES) {
    it(argv.join(" "), () => {
      const want = native(argv);
      const got = sandboxed(argv);
      expect({ status: got.status, stdout: got.stdout }).toEqual(want);
    });
  }
});
