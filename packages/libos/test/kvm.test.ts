/**
 * The libos core serving real static programs on the kvm platform: a C
 * program built with musl-gcc and with cc (glibc), each -static.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Libos, SandboxFs } from "@kindling/libos";
import { loadStaticProgram } from "@kindling/linux-loader";
import { AT, KvmPlatform, writeInitialStack } from "@kindling/syscall-tap";
import { describe, expect, it } from "vitest";

const dir = fileURLToPath(new URL("./programs/", import.meta.url));
const outDir = join(tmpdir(), `kindling-libos-core-${process.pid}`);

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
if (kvmMissing) console.warn(`skipping libos kvm tests: ${kvmMissing}`);
if (compilers.length < 2)
  console.warn(`libos kvm tests: missing compilers: ${["musl-gcc", "cc"].filter((c) => !compilers.includes(c))}`);

function build(cc: string, name: string): string {
  mkdirSync(outDir, { recursive: true });
  const exe = join(outDir, `${name}-${cc}`);
  execFileSync(cc, ["-static", "-O1", "-o", exe, join(dir, `${name}.c`)]);
  return exe;
}

const MEM = 64 << 20;
const STACK = 8 << 20;

/** Loads `exe` into a fresh VM and builds a Libos for it; output of fds 1 and 2 is captured. */
function boot(exe: string, argv: string[]) {
  const p = KvmPlatform.create({ memorySize: MEM });
  const prog = loadStaticProgram(new Uint8Array(readFileSync(exe)), p.programTarget);
  const sp = writeInitialStack(p.memory, MEM - 4096, {
    argv,
    envp: ["HOME=/"],
    auxv: [
      [AT.PHDR, Number(prog.phdrAddr)],
      [AT.PHENT, prog.phentsize],
      [AT.PHNUM, prog.phnum],
      [AT.PAGESZ, 4096],
      [AT.ENTRY, Number(prog.entry)],
      [AT.UID, 1000],
      [AT.EUID, 1000],
      [AT.GID, 1000],
      [AT.EGID, 1000],
      [AT.SECURE, 0],
    ],
    random: new Uint8Array(16).fill(7),
    execfn: argv[0],
  });
  p.start(Number(prog.entry), sp);
  const brk = Number(prog.brkStart);
  let out = "";
  const unsupported: string[] = [];
  const sink = {
    write: (d: Uint8Array) => {
      out += Buffer.from(d).toString();
      return d.length;
    },
  };
  const k = new Libos({
    argv,
    exe: "/prog",
    memory: {
      base: brk,
      size: MEM - STACK - brk,
      limit: MEM,
      regions: [
        { start: Number(prog.loadStart), length: brk - Number(prog.loadStart), kind: "image", prot: 5, name: "/prog" },
        { start: MEM - STACK, length: STACK, kind: "stack", prot: 3, name: "[stack]" },
      ],
    },
    stdio: ["null", sink, sink],
    fs: new SandboxFs(),
    identity: { pid: 1, ppid: 0, uid: 1000, gid: 1000 },
    onUnsupported: (n) => unsupported.push(n),
  });
  return { p, k, output: () => out, unsupported };
}

describe.skipIf(kvmMissing !== null)("libos core on the kvm platform", () => {
  for (const cc of compilers) {
    it(`serves a static ${cc} program: identity, memory, time, signals, faults`, () => {
      const exe = build(cc, "core-basic");
      const { p, k, output, unsupported } = boot(exe, ["core-basic", "x"]);
      try {
        const r = p.run(k, { wallMs: 30_000 });
        expect(r).toEqual({ kind: "exited" });
        expect(output()).toBe(
          [
            "argc=2 argv1=x",
            "pid=1 ppid=0 uid=1000",
            "sys=Linux machine=x86_64",
            "mremap kept=7 tail=0",
            "huge=failed errno=12",
            "slept>=20ms 1",
            "usr1 got=10",
            "segv got=11 addr=0x10",
            "ill got=4",
            "fp=2.50",
            "",
          ].join("\n"),
        );
        expect(k.termSignal).toBe(8);
        expect(k.shellStatus).toBe(136);
        console.log(`${cc}: ${p.syscalls} syscalls, ${p.faults} faults; ENOSYS: ${unsupported.join(", ") || "none"}`);
      } finally {
        p.close();
      }
    });
  }
});
