// End to end: Debian's static busybox runs under the seccomp platform with the
// libos serving its file system calls from a SandboxFs (a read-only host
// directory as /, a tmpfs at /tmp). Output and status must equal a native run.
import { execFileSync, spawnSync } from "node:child_process";
import * as nfs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Libos, SandboxFs } from "@kindling/libos";
import { SeccompPlatform } from "@kindling/syscall-tap";
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

function sandboxRun(
  argv: string[],
  cwd = "/data",
  tmp?: Tmpfs,
  input = "",
): { out: string; err: string; status: number } {
  let stdin = Buffer.from(input);
  const fs = new SandboxFs({ root, mounts: [{ path: "/tmp", fs: tmp ?? new Tmpfs() }], cwd });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const k = new Libos({
    memory: { base: 0x10000000, size: 0x10000000 },
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
  const proc = SeccompPlatform.spawn({ file: busybox as string, argv, env: [], fds: [-1, -1, -1] });
  try {
    const exit = proc.run(k, { timeoutMs: 20000 });
    return {
      out: Buffer.concat(out).toString(),
      err: Buffer.concat(err).toString(),
      status: exit.exitCode ?? 128 + (exit.signal ?? 0),
    };
  } finally {
    fs.dispose();
  }
}

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

describe.skipIf(!busybox)("busybox on the seccomp platform, files served by the libos", () => {
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
    nfs.mkdirSync(join(root, "tmp"), { recursive: true });
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
  void execFileSync;
});
