// End to end: Debian's static busybox runs on the seccomp and kvm platforms with the
// libos serving its file system calls from a SandboxFs (a read-only host
// directory as /, a tmpfs at /tmp). Output and status must equal a native run.
import { spawnSync } from "node:child_process";
import * as nfs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Libos, type LibosOptions, SandboxFs } from "@kindling/libos";
import { loadStaticProgram } from "@kindling/linux-loader";
import { AT, KvmPlatform, SeccompPlatform, writeInitialStack } from "@kindling/syscall-tap";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Tmpfs } from "../src/fs/index.js";

const busybox = ["/usr/bin/busybox", "/bin/busybox"].find((p) => nfs.existsSync(p));
if (!busybox) console.warn("fs-e2e: skipped, busybox-static is not installed");

let base: string;
let root: string;

beforeAll(() => {
  if (!busybox) return;
  base = nfs.mkdtempSync(join(tmpdir(), "kindling-fse2e-"));
  root = join(base, "root");
  nfs.mkdirSync(join(root, "bin"), { recursive: true });
  nfs.mkdirSync(join(root, "data/sub"), { recursive: true });
  nfs.mkdirSync(join(root, "etc"));
  nfs.writeFileSync(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  nfs.writeFileSync(join(root, "etc/group"), "root:x:0:\n");
  nfs.copyFileSync(busybox, join(root, "bin/busybox"));
  nfs.chmodSync(join(root, "bin/busybox"), 0o755);
  nfs.writeFileSync(join(root, "data/hello.txt"), "hello from the host\nsecond line\n");
  nfs.writeFileSync(join(root, "data/sub/n.txt"), "3\n1\n2\n");
  nfs.symlinkSync("hello.txt", join(root, "data/link"));
  const t = new Date("2024-01-02T03:04:05Z");
  for (const p of ["data/hello.txt", "data/sub/n.txt", "data/sub", "data"]) nfs.utimesSync(join(root, p), t, t);
  nfs.lutimesSync(join(root, "data/link"), t, t);
});
afterAll(() => {
  if (base) nfs.rmSync(base, { recursive: true, force: true });
});

interface RunResult {
  out: string;
  err: string;
  status: number;
}
type Runner = (argv: string[], cwd?: string, tmp?: Tmpfs, input?: string) => RunResult;

/** The Libos for one run: hostfs root (read-only), /tmp a tmpfs, stdio captured. */
function makeLibos(argv: string[], cwd: string, tmp: Tmpfs | undefined, input: string, memory: LibosOptions["memory"]) {
  const fs = new SandboxFs({ root, mounts: [{ path: "/tmp", fs: tmp ?? new Tmpfs() }], cwd });
  let stdin = Buffer.from(input);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const k = new Libos({
    memory,
    fs,
    exe: "/bin/busybox",
    argv,
    env: [],
    stdio: [
      {
        read: (b) => {
          const n = Math.min(b.length, stdin.length);
          b.set(stdin.subarray(0, n));
          stdin = stdin.subarray(n);
          return n;
        },
      },
      { write: (b) => out.push(Buffer.from(b)) && b.length },
      { write: (b) => err.push(Buffer.from(b)) && b.length },
    ],
  });
  const result = (): RunResult => ({
    out: Buffer.concat(out).toString(),
    err: Buffer.concat(err).toString(),
    status: k.shellStatus,
  });
  return { k, fs, result };
}

const seccompRun: Runner = (argv, cwd = "/data", tmp, input = "") => {
  const { k, fs, result } = makeLibos(argv, cwd, tmp, input, { base: 0x10000000, size: 0x10000000 });
  const proc = SeccompPlatform.spawn({ file: busybox as string, argv, env: [], fds: [-1, -1, -1] });
  try {
    const exit = proc.run(k, { timeoutMs: 20000 });
    const r = result();
    r.status = exit.exitCode ?? 128 + (exit.signal ?? 0);
    return r;
  } finally {
    fs.dispose();
  }
};

const MEM = 64 << 20;
const STACK = 8 << 20;

const kvmRun: Runner = (argv, cwd = "/data", tmp, input = "") => {
  const vm = KvmPlatform.create({ memorySize: MEM });
  try {
    const prog = loadStaticProgram(nfs.readFileSync(busybox as string), vm.programTarget);
    const sp = writeInitialStack(vm.memory, MEM - 4096, {
      argv,
      envp: [],
      auxv: [
        [AT.PHDR, Number(prog.phdrAddr)],
        [AT.PHENT, prog.phentsize],
        [AT.PHNUM, prog.phnum],
        [AT.PAGESZ, 4096],
        [AT.ENTRY, Number(prog.entry)],
      ],
      random: crypto.getRandomValues(new Uint8Array(16)),
      execfn: "/bin/busybox",
    });
    vm.start(Number(prog.entry), sp);
    const brk = Number(prog.brkStart);
    const { k, fs, result } = makeLibos(argv, cwd, tmp, input, {
      base: brk,
      size: MEM - STACK - brk,
      limit: MEM,
      regions: [
        {
          start: Number(prog.loadStart),
          length: brk - Number(prog.loadStart),
          kind: "image",
          prot: 5,
          name: "/bin/busybox",
        },
        { start: MEM - STACK, length: STACK, kind: "stack", prot: 3, name: "[stack]" },
      ],
    });
    try {
      const r = vm.run(k, { wallMs: 20_000 });
      expect(r).toEqual({ kind: "exited" });
      return result();
    } finally {
      fs.dispose();
    }
  } finally {
    vm.close();
  }
};

const kvmMissing = (() => {
  try {
    KvmPlatform.create({ memorySize: 8 << 20 }).close();
    return null;
  } catch (e) {
    return `/dev/kvm is not usable (${(e as Error).message})`;
  }
})();
if (kvmMissing) console.warn(`fs-e2e: kvm platform skipped: ${kvmMissing}`);

const platforms: Array<[string, Runner, string | null]> = [
  ["seccomp", seccompRun, busybox ? null : "busybox-static is not installed"],
  ["kvm", kvmRun, busybox ? kvmMissing : "busybox-static is not installed"],
];

function nativeRun(argv: string[], cwd = "data", input = ""): { out: string; err: string; status: number } {
  const r = spawnSync(busybox as string, argv.slice(1), {
    cwd: join(root, cwd),
    env: {},
    encoding: "utf8",
    argv0: argv[0],
    input,
  });
  return { out: r.stdout, err: r.stderr, status: r.status ?? -1 };
}

describe.each(platforms)("busybox on the %s platform, files served by the libos", (_name, sandboxRun, skipReason) => {
  if (skipReason) {
    it.skip(`skipped: ${skipReason}`, () => {});
    return;
  }
  const cases: string[][] = [
    ["cat", "hello.txt"],
    ["cat", "link", "sub/n.txt"],
    ["cat", "missing"],
    ["ls", "-la", "sub"],
    ["ls", "-l", "link", "hello.txt"],
    ["wc", "hello.txt"],
    ["sort", "sub/n.txt"],
    ["head", "-n1", "hello.txt"],
    ["readlink", "link"],
    ["stat", "-c", "%s %a %F %h", "hello.txt", "sub", "link"],
    ["sha256sum", "hello.txt"],
    ["find", ".", "-name", "*.txt"],
    ["grep", "-r", "second", "."],
  ];
  for (const argv of cases) {
    it(`busybox ${argv.join(" ")}`, () => {
      const full = ["busybox", ...argv];
      const want = nativeRun(full);
      const got = sandboxRun(full);
      expect(got).toEqual(want);
    });
  }

  it("a sequence of applets that write (cp, mv, rm, mkdir, ln -s, tee, gzip, tar) matches a native run", () => {
    nfs.rmSync(join(root, "tmp"), { recursive: true, force: true });
    nfs.mkdirSync(join(root, "tmp"));
    const tmp = new Tmpfs();
    const seq: string[][] = [
      ["mkdir", "-p", "tmp/a/b"],
      ["cp", "data/hello.txt", "tmp/a/b/h"],
      ["cat", "tmp/a/b/h"],
      ["mv", "tmp/a/b/h", "tmp/a/moved"],
      ["ls", "tmp/a", "tmp/a/b"],
      ["ln", "-s", "moved", "tmp/a/sym"],
      ["readlink", "tmp/a/sym"],
      ["cat", "tmp/a/sym"],
      ["tee", "tmp/t1"],
      ["cat", "tmp/t1"],
      ["gzip", "-k", "tmp/t1"],
      ["gunzip", "-c", "tmp/t1.gz"],
      ["tar", "-cf", "tmp/x.tar", "data/sub"],
      ["mkdir", "tmp/ex"],
      ["tar", "-xf", "tmp/x.tar", "-C", "tmp/ex"],
      ["find", "tmp/ex"],
      ["cat", "tmp/ex/data/sub/n.txt"],
      ["rm", "-r", "tmp/a"],
      ["ls", "tmp"],
      ["rm", "tmp/nothing"],
      ["rmdir", "tmp/ex"],
      ["md5sum", "data/hello.txt", "tmp/t1"],
      ["od", "-c", "tmp/t1"],
      ["hexdump", "-C", "data/sub/n.txt"],
      ["base64", "data/hello.txt"],
      ["cut", "-c1-5", "data/hello.txt"],
      ["sed", "s/hello/bye/", "data/hello.txt"],
      ["awk", '{print NR": "$2}', "data/hello.txt"],
      ["sh", "-c", "printf '%s-%d\\n' x 5; true; echo $?; cd tmp && echo *"],
      ["printf", "%s=%x\\n", "a", "255"],
      ["echo", "-n", "x"],
      ["seq", "3"],
      ["expr", "2", "+", "3"],
      ["basename", "/a/b.c", ".c"],
      ["dirname", "/a/b.c"],
      ["true"],
      ["tail", "-n1", "data/hello.txt"],
      ["uniq", "data/sub/n.txt"],
      ["tr", "a-z", "A-Z"],
      ["du", "-s", "data"],
      ["date", "-u", "-d", "@0"],
      ["env"],
      ["false"],
    ];
    const input: Record<string, string> = { tee: "one two\n", tr: "Mixed Case\n" };
    for (const argv of seq) {
      const full = ["busybox", ...argv];
      const want = nativeRun(full, "", input[argv[0]]);
      const got = sandboxRun(full, "/", tmp, input[argv[0]]);
      expect(got, argv.join(" ")).toEqual(want);
    }
  });

  it("writes go to the tmpfs and cannot touch the read-only root", () => {
    const r = sandboxRun([
      "busybox",
      "sh",
      "-c",
      "echo made > /tmp/x && read v < /tmp/x && echo $v && echo no > /data/y; echo $?",
    ]);
    expect(r.out).toBe("made\n1\n");
    expect(r.err).toMatch(/Read-only file system/);
    expect(nfs.existsSync(join(root, "data/y"))).toBe(false);
  });
});
