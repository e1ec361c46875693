// Debian's busybox-static through the Sandbox on both platforms: each applet
// runs once natively (cwd: a prepared tree) and once per platform in the
// sandbox (the same tree as a read-only root, `work/` mounted writable, a
// tmpfs at /tmp, cwd /). stdout, stderr and the exit status must match.
import * as nfs from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { busybox, ENV, makeTree, platforms, type RunResult, runNative, runSandbox } from "./harness.js";

if (!busybox)
  console.warn("conformance busybox: skipped, busybox-static is not installed (scripts/test.sh installs it)");

const FIXED = new Date("2024-01-02T03:04:05Z");

/** A tree with `work/` (writable in the sandbox) and `tmp/` (a tmpfs there); directory times fixed. */
function prepare(name: string): string {
  const root = makeTree(name);
  nfs.mkdirSync(join(root, "work"));
  nfs.mkdirSync(join(root, "tmp"));
  nfs.writeFileSync(join(root, "data/words"), "pear\napple\nfig\napple\nbanana\nfig\nfig\n");
  nfs.writeFileSync(join(root, "data/table.csv"), "id,name,qty\n1,bolt,30\n2,nut,7\n3,washer,120\n");
  for (const p of ["data/words", "data/table.csv", "data", "tmp", "work", "scratch", "."]) {
    nfs.utimesSync(join(root, p), FIXED, FIXED);
  }
  return root;
}

/** Content digest of a tree (names, types, modes, contents, link targets; not times). */
function contents(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const p = join(root, rel);
    const st = nfs.lstatSync(p);
    if (st.isSymbolicLink()) out.push(`${rel} -> ${nfs.readlinkSync(p)}`);
    else if (st.isFile()) out.push(`${rel} ${(st.mode & 0o7777).toString(8)} ${nfs.readFileSync(p).toString("hex")}`);
    else if (st.isDirectory()) {
      out.push(`${rel}/ ${(st.mode & 0o7777).toString(8)}`);
      for (const e of nfs.readdirSync(p).sort()) walk(rel === "." ? e : `${rel}/${e}`);
    }
  };
  walk(".");
  return out;
}

interface Case {
  argv: string[];
  input?: string;
}

/** Applets that only read. */
const readOnly: Case[] = [
  { argv: ["echo", "hello", "world"] },
  { argv: ["echo", "-n", "-e", "a\\tb\\n"] },
  { argv: ["printf", "%s=%d %x %5.2f|%-4s|\\n", "n", "42", "255", "3.14159", "ab"] },
  { argv: ["cat", "data/hello.txt", "data/link", "data/sub/n.txt"] },
  { argv: ["cat", "data/missing"] },
  { argv: ["ls", "-la", "data"] },
  { argv: ["ls", "-la", "data/sub", "data/link"] },
  { argv: ["ls", "-R", "data"] },
  { argv: ["wc", "data/hello.txt", "data/words", "data/big.bin"] },
  { argv: ["wc", "-l"], input: "a\nb\nc\n" },
  { argv: ["sort", "data/words"] },
  { argv: ["sort", "-r", "-u"], input: "b\na\nc\na\n" },
  { argv: ["sort", "-t,", "-k3", "-n", "data/table.csv"] },
  { argv: ["uniq", "-c", "data/sub/n.txt"] },
  { argv: ["head", "-n", "2", "data/words"] },
  { argv: ["head", "-c", "16", "data/big.bin"] },
  { argv: ["tail", "-n", "3", "data/words"] },
  { argv: ["tail", "-c", "5", "data/hello.txt"] },
  { argv: ["grep", "-n", "fig", "data/words"] },
  { argv: ["grep", "-r", "-l", "line", "data"] },
  { argv: ["grep", "-c", "zzz", "data/words"] },
  { argv: ["sed", "-e", "s/apple/APPLE/g", "-e", "3d", "data/words"] },
  { argv: ["sed", "-n", "2p", "data/hello.txt"] },
  { argv: ["awk", "-F,", 'NR>1 { s += $3; print $2 } END { print "total", s }', "data/table.csv"] },
  { argv: ["find", "data", "-type", "f", "-name", "*.txt"] },
  { argv: ["find", "data", "-type", "l"] },
  { argv: ["xargs", "echo", "args:"], input: "one two\nthree\n" },
  { argv: ["xargs", "-n", "2", "echo"], input: "1 2 3 4 5\n" },
  { argv: ["cut", "-d,", "-f2,3", "data/table.csv"] },
  { argv: ["cut", "-c1-5", "data/hello.txt"] },
  { argv: ["tr", "a-z", "A-Z"], input: "Mixed Case 123\n" },
  { argv: ["tr", "-d", "aeiou"], input: "conformance\n" },
  { argv: ["sha256sum", "data/hello.txt", "data/big.bin"] },
  { argv: ["md5sum", "data/hello.txt", "data/empty"] },
  { argv: ["od", "-A", "x", "-t", "x1z", "data/hello.txt"] },
  { argv: ["od", "-c", "data/sub/n.txt"] },
  { argv: ["hexdump", "-C", "data/hello.txt"] },
  { argv: ["base64", "data/hello.txt"] },
  { argv: ["base64", "-d"], input: "aGVsbG8gYmFzZTY0Cg==\n" },
  { argv: ["gzip", "-c", "data/hello.txt"] },
  { argv: ["readlink", "data/link"] },
  { argv: ["stat", "-c", "%n %s %a %F %h %U %G %Y", "data/hello.txt", "data/sub", "data/link", "data/empty"] },
  { argv: ["stat", "-L", "-c", "%n %s %F", "data/link"] },
  { argv: ["du", "-s", "data"] },
  { argv: ["du", "-a", "data/sub"] },
  { argv: ["date", "-u", "-d", "@1704164645"] },
  { argv: ["date", "-u", "-d", "@0", "+%Y-%m-%d %H:%M:%S %j %a"] },
  { argv: ["env"] },
  { argv: ["seq", "5"] },
  { argv: ["seq", "-s", ",", "2", "3", "14"] },
  { argv: ["expr", "6", "*", "7"] },
  { argv: ["expr", "length", "conformance"] },
  { argv: ["expr", "1", "=", "2"] },
  { argv: ["basename", "/a/b/c.txt", ".txt"] },
  { argv: ["dirname", "/a/b/c.txt"] },
  { argv: ["true"] },
  { argv: ["false"] },
  {
    argv: [
      "sh",
      "-c",
      "x=3; echo $((x * 7)); for w in a b c; do printf '%s;' $w; done; echo; " +
        "test -d data && echo dir; [ -f data/nothing ] || echo nofile; " +
        'read first rest < data/hello.txt; echo "$first|$rest"; ' +
        "cd data/sub && echo *; case foo in f*) echo matched;; esac; " +
        "f() { return 3; }; f; echo status=$?; set -- p q r; echo $# $2; exit 5",
    ],
  },
  { argv: ["sh", "-c", 'while read a; do echo "<$a>"; done; echo done', "sh"], input: "x\ny z\n" },
];

/** Applets that write, in order: each step sees the previous ones' results (in work/; tmp/ is fresh per run). */
const writes: Case[] = [
  { argv: ["mkdir", "-p", "work/a/b/c"] },
  { argv: ["mkdir", "work/a"] },
  { argv: ["cp", "data/hello.txt", "work/a/b/h.txt"] },
  { argv: ["cp", "-r", "data/sub", "work/subcopy"] },
  { argv: ["cat", "work/a/b/h.txt", "work/subcopy/n.txt"] },
  { argv: ["mv", "work/a/b/h.txt", "work/a/moved.txt"] },
  { argv: ["ls", "work", "work/a", "work/a/b"] },
  { argv: ["ln", "-s", "moved.txt", "work/a/sym"] },
  { argv: ["ln", "-s", "x", "work/a/sym"] },
  { argv: ["readlink", "work/a/sym"] },
  { argv: ["cat", "work/a/sym"] },
  { argv: ["tee", "work/t1", "work/t2"], input: "tee line one\ntee line two\n" },
  { argv: ["tee", "-a", "work/t1"], input: "appended\n" },
  { argv: ["cat", "work/t1", "work/t2"] },
  { argv: ["gzip", "-k", "work/t1"] },
  { argv: ["gunzip", "-c", "work/t1.gz"] },
  { argv: ["gzip", "-d", "-f", "work/t1.gz"] },
  { argv: ["tar", "-cf", "work/x.tar", "data/sub", "data/hello.txt"] },
  { argv: ["tar", "-tf", "work/x.tar"] },
  { argv: ["tar", "-xvf", "work/x.tar", "-C", "tmp"] },
  { argv: ["tar", "-xOf", "work/x.tar", "data/hello.txt"] },
  // tar -z forks a gzip child (no child processes yet): compress and extract in separate steps.
  { argv: ["tar", "-cf", "work/y.tar", "work/a"] },
  { argv: ["gzip", "-9", "work/y.tar"] },
  { argv: ["gunzip", "-t", "work/y.tar.gz"] },
  { argv: ["gunzip", "work/y.tar.gz"] },
  { argv: ["tar", "-xvf", "work/y.tar", "-C", "tmp"] },
  { argv: ["cp", "data/big.bin", "tmp/big"] },
  { argv: ["rm", "work/a/sym", "work/nothing"] },
  { argv: ["rm", "-r", "work/subcopy"] },
  { argv: ["rm", "-f", "work/nothing"] },
  { argv: ["ls", "work"] },
  { argv: ["sh", "-c", "echo into-tmpfs > tmp/f && read v < tmp/f && echo $v"] },
];

function clean(r: RunResult): RunResult {
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

describe.skipIf(!busybox)("busybox applets: native and sandbox give the same output", () => {
  const bb = busybox as string;
  let nativeRoot = "";
  const sandboxRoots = new Map<string, string>();
  beforeAll(() => {
    nativeRoot = prepare("bb-native");
    for (const { platform } of platforms) sandboxRoots.set(platform, prepare(`bb-${platform}`));
  });
  const native = (c: Case): RunResult =>
    runNative([bb, ...c.argv], { cwd: nativeRoot, env: ENV, ...(c.input !== undefined ? { input: c.input } : {}) });
  const sandboxed = (c: Case, platform: "kvm" | "seccomp"): RunResult => {
    const root = sandboxRoots.get(platform) as string;
    return clean(
      runSandbox([bb, ...c.argv], {
        cwd: root,
        platform,
        env: ENV,
        ...(c.input !== undefined ? { input: c.input } : {}),
        sandbox: {
          root,
          rootWritable: false,
          mounts: [{ host: join(root, "work"), path: "/work", writable: true }],
          tmpfs: ["/tmp"],
          cwd: "/",
        },
      }),
    );
  };

  for (const c of [...readOnly, ...writes]) {
    const title = c.argv.join(" ").slice(0, 100);
    it(title, () => {
      // The native run goes first: it is the reference (and writes to the native tree once).
      const want = native(c);
      for (const { platform, missing } of platforms) {
        if (missing) continue;
        expect(sandboxed(c, platform), `${platform}: busybox ${title}`).toEqual(want);
      }
    });
  }

  it("the written trees are the same, and the read-only root is untouched", () => {
    const want = contents(join(nativeRoot, "work"));
    for (const { platform, missing } of platforms) {
      if (missing) continue;
      const root = sandboxRoots.get(platform) as string;
      expect(contents(join(root, "work")), platform).toEqual(want);
      // tmp/ was a tmpfs in the sandbox: nothing reached the host directory.
      expect(nfs.readdirSync(join(root, "tmp")), platform).toEqual([]);
    }
  });
});
