// Confinement through the Sandbox on both platforms: a program tries `../`
// escapes, absolute and relative symlinks out of the root, /proc/self/root
// and other magic links, pointers outside its memory, and writes to the
// read-only root. Each attempt must fail with Linux's errno (the program
// checks them itself and exits 0) and the host must be untouched: the tree
// and a secret file beside it hash the same before and after. Where this
// process may (root, mount namespaces), the same program also runs natively
// under Linux itself, confined the same way (a read-only bind mount of the
// tree as its chroot, work/ bound writable, /proc mounted), and its output
// must equal the sandbox's: the expected errno values are Linux's.
import { spawnSync } from "node:child_process";
import * as nfs from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { build, compilers, corpusDir, hashTree, makeTree, platforms, runSandbox } from "./harness.js";

const SECRET = "host secret: must stay unread and unchanged\n";

/** A tree with escape links prepared on the host, `work/` (writable in the sandbox) and a secret beside it. */
function prepare(name: string): { root: string; secret: string } {
  const root = makeTree(name);
  const secret = join(dirname(root), "SECRET");
  nfs.writeFileSync(secret, SECRET);
  nfs.mkdirSync(join(root, "work"));
  nfs.mkdirSync(join(root, "proc")); // a mount point for the native reference run
  nfs.mkdirSync(join(root, "bin"));
  nfs.symlinkSync(secret, join(root, "data/abs-secret"));
  nfs.symlinkSync("../../SECRET", join(root, "data/rel-secret"));
  nfs.symlinkSync("/etc/passwd", join(root, "data/abs-passwd"));
  nfs.symlinkSync("/etc", join(root, "data/hostetc"));
  nfs.symlinkSync("../../../../..", join(root, "data/rel-root"));
  // The links really lead out natively: the sandbox is what keeps them in.
  expect(nfs.readFileSync(join(root, "data/rel-secret"), "utf8")).toBe(SECRET);
  expect(nfs.readFileSync(join(root, "data/abs-secret"), "utf8")).toBe(SECRET);
  return { root, secret };
}

/** Why the native reference run is not possible here, or null. */
const nativeMissing: string | null = (() => {
  if (process.getuid?.() !== 0) return "not root (the native reference needs mount namespaces and chroot)";
  const r = spawnSync("unshare", ["-m", "sh", "-c", "mount -t tmpfs none /mnt && command -v chroot"], {
    stdio: "ignore",
  });
  return r.status === 0 ? null : "unshare -m with mount and chroot is not usable here";
})();
if (nativeMissing) console.warn(`confinement: native reference runs skipped: ${nativeMissing}`);

/** The program run by Linux itself: chroot into a read-only bind mount of the tree, work/ writable, /proc. */
function runNativeConfined(exe: string, root: string, secret: string) {
  nfs.copyFileSync(exe, join(root, "bin/escape"));
  nfs.chmodSync(join(root, "bin/escape"), 0o755);
  const script = [
    "set -e",
    'R="$1"',
    'mount --bind "$R" "$R"',
    'mount -o remount,bind,ro "$R"',
    'mount --bind "$R/work" "$R/work"',
    'mount -o remount,bind,rw "$R/work"',
    'mount -t proc proc "$R/proc"',
    'exec chroot "$R" /bin/escape "$2"',
  ].join("\n");
  const r = spawnSync("unshare", ["-m", "--propagation", "private", "sh", "-c", script, "sh", root, secret], {
    encoding: "latin1",
    stdio: ["ignore", "pipe", "pipe"],
  });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status ?? -1 };
}

/** The host state the program must not change: the tree (times included) but work/, and the secret. */
function hostState(root: string, secret: string): string {
  // The directory holding the secret too: nothing may appear beside the tree.
  return `${hashTree(root, ["work"])} ${nfs.readdirSync(dirname(root)).sort().join(",")} ${nfs.readFileSync(secret, "utf8")}`;
}

describe("confinement: escapes fail with Linux's errno and leave the host untouched", () => {
  for (const { cc, missing: ccMissing } of compilers) {
    for (const { platform, missing } of platforms) {
      it.skipIf(ccMissing ?? missing)(`escape attempts (${cc}, ${platform})`, () => {
        const exe = build("confine/escape", cc);
        const { root, secret } = prepare(`confine-${cc}-${platform}`);
        const before = hostState(root, secret);
        const r = runSandbox([exe, secret], {
          cwd: root,
          platform,
          sandbox: {
            root,
            rootWritable: false,
            mounts: [{ host: join(root, "work"), path: "/work", writable: true }],
            cwd: "/",
          },
        });
        const failed = r.stdout.split("\n").filter((l) => !l.startsWith("ok "));
        expect(failed.join("\n")).toBe(`${join(corpusDir, "confine/escape.c")}: 0 failed\n`);
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(hostState(root, secret)).toBe(before);
        // Only what the program made in the writable mount is new on the host.
        expect(nfs.readdirSync(join(root, "work")).sort()).toEqual(["esc-abs", "esc-rel", "ok", "up"]);
        expect(nfs.readFileSync(join(root, "work/ok"), "utf8")).toBe("written\n");
        expect(nfs.readlinkSync(join(root, "work/esc-abs"))).toBe(secret);
        if (nativeMissing) return;
        // Linux itself, confined the same way, prints the same checks.
        const n = prepare(`confine-native-${cc}-${platform}`);
        const native = runNativeConfined(exe, n.root, n.secret);
        expect(native).toEqual({ stdout: r.stdout, stderr: "", status: 0 });
        expect(nfs.readdirSync(join(n.root, "work")).sort()).toEqual(["esc-abs", "esc-rel", "ok", "up"]);
      });
    }
  }
});
