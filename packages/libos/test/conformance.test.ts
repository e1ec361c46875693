/**
 * Native vs sandbox: small C programs for the core's areas (signals, memory,
 * identity/time/limits/futex), built with musl-gcc and cc (glibc) -static, give
 * the same stdout and exit status natively and on the kvm platform with the libos.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { constants, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { hostRlimits, Libos, SandboxFs } from "@kindling/libos";
import { loadStaticProgram } from "@kindling/linux-loader";
import { AT, KvmPlatform, writeInitialStack } from "@kindling/syscall-tap";
import { describe, expect, it } from "vitest";

const dir = fileURLToPath(new URL("./programs/", import.meta.url));
const outDir = join(tmpdir(), `kindling-libos-conf-${process.pid}`);
const ENV = ["PATH=/bin:/usr/bin", "LC_ALL=C"];
const MEM = 256 << 20; // glibc gives each thread an RLIMIT_STACK-sized (8 MiB) stack
const STACK = 8 << 20;

function has(tool: string): boolean {
  try {
    execFileSync(tool, ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
const kvmMissing = (() => {
  try {
    KvmPlatform.create({ memorySize: 8 << 20 }).close();
    return null;
  } catch (e) {
    return `/dev/kvm is not usable (${(e as Error).message})`;
  }
})();
const compilers = ["musl-gcc", "cc"].filter(has);
if (kvmMissing) console.warn(`skipping libos conformance tests: ${kvmMissing}`);
for (const c of ["musl-gcc", "cc"]) if (!compilers.includes(c)) console.warn(`libos conformance: ${c} is missing`);

function build(cc: string, name: string): string {
  mkdirSync(outDir, { recursive: true });
  const exe = join(outDir, `${name}-${cc}`);
  execFileSync(cc, ["-static", "-O1", "-pthread", "-o", exe, join(dir, `${name}.c`)]);
  return exe;
}

function native(exe: string): { status: number; stdout: string } {
  const r = spawnSync(exe, [], {
    env: Object.fromEntries(ENV.map((e) => e.split("="))),
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
  return { status: r.status ?? 128 + (r.signal ? constants.signals[r.signal] : 0), stdout: r.stdout };
}

function sandboxed(exe: string): { status: number; stdout: string } {
  const argv = [exe];
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
      fs: new SandboxFs(),
      identity: { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 },
      rlimits: hostRlimits(),
    });
    const r = vm.run(k, { wallMs: 20_000 });
    expect(r).toEqual({ kind: "exited" });
    return { status: k.shellStatus, stdout };
  } finally {
    vm.close();
  }
}

describe.skipIf(kvmMissing !== null)("core conformance: native vs libos on kvm", () => {
  for (const name of ["conf-signals", "conf-memory", "conf-misc", "conf-alloc", "conf-timers", "conf-threads"]) {
    for (const cc of compilers) {
      it(`${name} (${cc})`, () => {
        const exe = build(cc, name);
        const want = native(exe);
        expect(want.stdout.length).toBeGreaterThan(0);
        expect(sandboxed(exe)).toEqual(want);
      });
    }
  }
});
