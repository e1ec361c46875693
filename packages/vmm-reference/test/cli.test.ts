import { chmodSync, lstatSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { kvmAvailable, normalizeStrace, parseSize } from "@kindling/vmm-reference";
import { describe, expect, it } from "vitest";
import { ccMissing, compile, kindling, scratchDir } from "./programs.js";

describe("kindling CLI: bad input follows the shell's conventions", () => {
  it("a missing program is 127", async () => {
    const r = await kindling(["run", "/nonexistent/prog"]);
    expect(r.status).toBe(127);
    expect(r.err).toContain("No such file or directory");
  });
  it("a file that is not executable is 126", async () => {
    const d = scratchDir("noexec");
    writeFileSync(join(d, "f"), "hello");
    chmodSync(join(d, "f"), 0o644);
    const r = await kindling(["run", join(d, "f")]);
    expect(r.status).toBe(126);
    expect(r.err).toContain("not executable");
  });
  it("an executable that is not an ELF is 126", async () => {
    const d = scratchDir("noelf");
    writeFileSync(join(d, "script"), "#!/bin/sh\necho hi\n");
    chmodSync(join(d, "script"), 0o755);
    const r = await kindling(["run", join(d, "script")]);
    expect(r.status).toBe(126);
    expect(r.err).toMatch(/ELF/);
  });
  it("a dynamically linked program is refused by name (126)", async () => {
    const r = await kindling(["run", "/bin/ls"]);
    expect(r.status).toBe(126);
    expect(r.err).toContain("dynamically linked");
  });
  it.skipIf(ccMissing)("a 32-bit program is refused by name (126)", async () => {
    let exe: string;
    try {
      exe = compile("m32", "int main(void){return 0;}", "cc", ["-m32", "-nostdlib", "-static", "-e", "main"]);
    } catch {
      // No 32-bit toolchain: make a 32-bit ELF header by hand from a 64-bit one.
      const d = scratchDir("m32");
      exe = join(d, "m32");
      const b = readFileSync("/bin/true");
      b[4] = 1; // ELFCLASS32
      writeFileSync(exe, b);
      chmodSync(exe, 0o755);
    }
    const r = await kindling(["run", exe]);
    expect(r.status).toBe(126);
    expect(r.err).toMatch(/32-bit/);
  });
  it("a bare --strace never takes the program path as its file", () => {
    const valueOptions = new Set(["--mount", "--root"]);
    expect(normalizeStrace(["run", "--strace", "/bin/prog", "--strace"], valueOptions)).toEqual([
      "run",
      "--strace=",
      "/bin/prog",
      "--strace",
    ]);
    expect(normalizeStrace(["run", "--mount", "/a:/b", "--strace", "--stats", "p"], valueOptions)).toEqual([
      "run",
      "--mount",
      "/a:/b",
      "--strace=",
      "--stats",
      "p",
    ]);
    expect(normalizeStrace(["run", "--strace=/tmp/t", "p"], valueOptions)).toEqual(["run", "--strace=/tmp/t", "p"]);
  });
  it("sizes parse with suffixes and reject nonsense", () => {
    expect(parseSize("256M")).toBe(256 * 1024 * 1024);
    expect(parseSize("1G")).toBe(1024 ** 3);
    expect(() => parseSize("lots")).toThrow();
    expect(() => parseSize("1M")).toThrow(/minimum/);
  });
});

const skip = ccMissing ?? (kvmAvailable() ? null : "/dev/kvm is not usable");
describe.skipIf(ccMissing)("kindling run", () => {
  const prog = ccMissing
    ? ""
    : compile(
        "status",
        `#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "kill")) raise(SIGTERM);
  if (argc > 1 && !strcmp(argv[1], "big")) { char *p = malloc(200 << 20); if (!p) return 99; p[1] = 1; }
  printf("args:%d\\n", argc);
  return argc > 1 ? atoi(argv[1]) : 0;
}`,
      );
  for (const platform of ["kvm", "seccomp"] as const) {
    it.skipIf(platform === "kvm" && skip)(`passes the exit status through (${platform})`, async () => {
      expect((await kindling(["run", "--platform", platform, prog, "7"])).status).toBe(7);
      expect((await kindling(["run", "--platform", platform, prog, "0"])).status).toBe(0);
    });
    it.skipIf(platform === "kvm" && skip)(`reports death by signal as 128+N (${platform})`, async () => {
      expect((await kindling(["run", "--platform", platform, prog, "kill"])).status).toBe(128 + 15);
    });
    it.skipIf(platform === "kvm" && skip)(`--strace writes a trace file (${platform})`, async () => {
      const f = join(scratchDir("trace"), `${platform}.txt`);
      const r = await kindling(["run", "--platform", platform, `--strace=${f}`, prog, "3"]);
      expect(r.status).toBe(3);
      const trace = readFileSync(f, "utf8");
      expect(statSync(f).mode & 0o777).toBe(0o600); // created for kindling's user only
      // exit_group runs natively under seccomp (no notification), so only kvm traces it.
      if (platform === "kvm") expect(trace).toMatch(/exit_group\(3\)/);
      expect(trace).toMatch(/write\(1, "args:2\\n", 7\) = 7/);
    });
    it.skipIf(platform === "kvm" && skip)(
      `bare --strace traces to stderr and runs the program (${platform})`,
      async () => {
        const r = await kindling(["run", "--platform", platform, "--strace", prog, "4"]);
        expect(r.status).toBe(4);
        expect(r.err).toMatch(/write\(1, "args:2\\n", 7\) = 7/);
      },
    );
    it.skipIf(platform === "kvm" && skip)(`--stats prints a syscall table (${platform})`, async () => {
      const r = await kindling(["run", "--platform", platform, "--stats", prog]);
      expect(r.status).toBe(0);
      expect(r.err).toMatch(/calls\s+errors\s+syscall/);
      expect(r.err).toMatch(/exit_group|write/);
    });
  }
  it.skipIf(skip)("malloc beyond --memory fails inside the program instead of the host", async () => {
    const r = await kindling(["run", "--memory", "64M", prog, "big"]);
    expect(r.status).toBe(99);
  });
  it.skipIf(skip)("a program too large for --memory is refused (126)", async () => {
    const exe = compile("large", "volatile char big[100 << 20] = {1}; int main(void){return big[0];}");
    const r = await kindling(["run", "--memory", "32M", exe]);
    expect(r.status).toBe(126);
    expect(r.err).toMatch(/does not fit/);
  });
  for (const platform of ["kvm", "seccomp"] as const) {
    it.skipIf(platform === "kvm" && skip)(
      `--timeout also ends a program sleeping in a system call (${platform})`,
      async () => {
        const sleeper = compile("sleeper", "#include <unistd.h>\nint main(void){ sleep(30); return 0; }");
        const t0 = performance.now();
        const r = await kindling(["run", "--platform", platform, "--timeout", "1", sleeper]);
        expect(r.status).toBe(128 + 9);
        expect(r.err).toContain("timeout");
        // Ended by the limit, not by the sleep running out (30 s).
        expect(performance.now() - t0).toBeLessThan(25_000);
      },
    );
  }
  it.skipIf(skip)("--timeout stops a program that never makes a system call", async () => {
    const spin = compile("spin", "int main(void){ for(;;){} }");
    const r = await kindling(["run", "--timeout", "0.5", spin]);
    expect(r.status).toBe(128 + 9);
    expect(r.err).toContain("timeout");
  });
});

/** True when a message looks like a Node stack trace rather than one line for a user. */
function stackTrace(text: string): boolean {
  return /\n\s+at |^\S+Error:|node:internal/m.test(text);
}

describe("kindling CLI: every bad option is one clear line and status 125", () => {
  const d = ccMissing ? "" : scratchDir("bad-input");
  const prog = ccMissing ? "" : compile("bad-input-prog", "int main(void){ return 0; }");
  const file = ccMissing ? "" : join(d, "file");
  if (!ccMissing) writeFileSync(file, "x");
  const cases: Array<[string[], RegExp]> = [
    [["--mount", "/nonexistent-kindling:/x"], /mount source \/nonexistent-kindling: no such directory/],
    [["--mount", "/etc/passwd:/x"], /\/etc\/passwd is not a directory/],
    [["--root", "/nonexistent-kindling"], /root \/nonexistent-kindling: no such directory/],
    [["--cwd", "/nonexistent"], /cwd \/nonexistent does not exist in the sandbox/],
    [["--cwd", "rel"], /cwd "rel" must be an absolute path/],
    [["--strace=/tmp"], /--strace=\/tmp: is a directory/],
    [["--strace=/nonexistent-kindling/t"], /--strace=\/nonexistent-kindling\/t: its directory does not exist/],
    [["--mount", "bad"], /"bad" is not HOST:GUEST/],
    [["--mount", "/tmp:relative"], /mount point "relative" must be an absolute path/],
    [["--mount", "/tmp:/x:rx"], /is not HOST:GUEST/],
    [["--mount", "/tmp:/x/../y"], /must not contain "\.\."/],
    [["--mount", "/tmp:/"], /use the root option/],
    [["--mount", "/tmp:/x", "--tmpfs", "/x"], /two mounts at \/x/],
    [["--env", "=V"], /"=V" is not KEY=VALUE or KEY/],
    [["--tmpfs", "rel"], /"rel" must be an absolute path/],
    [["--memory", "1M"], /less than the 16M minimum/],
    [["--memory", "lots"], /is not a size/],
    [["--memory", "99999999999999999999G"], /too large/],
    [["--timeout", "-1"], /not a positive number of seconds/],
    [["--timeout", "abc"], /not a positive number of seconds/],
    [["--cpu-limit", "0"], /not a positive number of seconds/],
    [["--pids", "0"], /not a number of tasks/],
    [["--pids", "1e9"], /not a number of tasks/],
    [["--platform", "xen"], /Allowed choices are kvm, seccomp/],
    [["--root", "/bin"], /\/bin is a symbolic link \(to usr\/bin\); give the real path/],
  ];
  if (!ccMissing) {
    cases.push([["--root", d, "--mount", `${d}:/missing/parent`], /\/missing does not exist in the sandbox/]);
    cases.push([["--root", d, "--cwd", "/file"], /cwd \/file is not a directory/]);
    cases.push([["--strace=/dev/stdout"], /is a symbolic link/]);
  }
  for (const platform of ["kvm", "seccomp"] as const) {
    for (const [args, message] of cases) {
      // /bin is a symlink only on merged-/usr systems.
      const why = args[1] === "/bin" && !lstatSync("/bin").isSymbolicLink() ? "/bin is not a symbolic link here" : null;
      it.skipIf(ccMissing ?? (platform === "kvm" ? skip : null) ?? why)(`${args.join(" ")} (${platform})`, async () => {
        const r = await kindling(["run", "--platform", platform, ...args, prog]);
        expect(r.status).toBe(125);
        expect(r.err).toMatch(message);
        expect(stackTrace(r.err), r.err).toBe(false);
        expect(r.err.trim().split("\n").length, r.err).toBeLessThanOrEqual(2);
      });
    }
  }
  it.skipIf(skip)("--memory above the kvm platform's 4G is refused by name", async () => {
    const r = await kindling(["run", "--platform", "kvm", "--memory", "5G", prog]);
    expect(r.status).toBe(125);
    expect(r.err).toContain("memory 5G: the kvm platform gives a program at most 4G");
  });
  it("an internal error is one line, not a stack trace", async () => {
    // A value no option parser produces: the check that catches it is not a SandboxError's.
    const r = await kindling(["run", "--platform", "seccomp", "--env", "A=1", "/nonexistent-kindling/prog"]);
    expect(r.status).toBe(127);
    expect(stackTrace(r.err)).toBe(false);
  });
});

describe.skipIf(ccMissing)("kindling run: what the program sees of the host", () => {
  const show = ccMissing
    ? ""
    : compile(
        "show",
        `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/auxv.h>
extern char **environ;
int main(int argc, char **argv) {
  /* The report goes to /out/report: the CLI gives the program this process's own stdout. */
  if (!freopen("/out/report", "w", stdout)) return 98;
  char exe[4096] = "";
  long n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) exe[n] = 0;
  printf("exe=%s\\nargv0=%s\\nexecfn=%s\\n", exe, argv[0], (const char *)getauxval(AT_EXECFN));
  for (char **e = environ; *e; e++) printf("env=%s\\n", *e);
  char maps[65536];
  int fd = open("/proc/self/maps", O_RDONLY);
  long got = 0, r;
  while (fd >= 0 && got < (long)sizeof maps - 1 && (r = read(fd, maps + got, sizeof maps - 1 - got)) > 0) got += r;
  maps[got] = 0;
  printf("maps-has-host-path=%d\\n", argc > 1 && strstr(maps, argv[1]) != NULL);
  return 0;
}`,
      );
  const hostDir = ccMissing ? "" : join(show, "..");
  let runs = 0;
  /** Runs `show` through the CLI with a fresh /out mounted writable; `out` is its report. */
  async function runShow(platform: string, args: string[], extra: string[] = []) {
    const outDir = scratchDir(`show-out-${runs++}`);
    const r = await kindling(["run", "--platform", platform, "--mount", `${outDir}:/out:rw`, ...args, show, ...extra]);
    let out = "";
    try {
      out = readFileSync(join(outDir, "report"), "utf8");
    } catch {}
    return { ...r, out };
  }
  for (const platform of ["kvm", "seccomp"] as const) {
    it.skipIf(platform === "kvm" && skip)(
      `the environment starts empty; --env and --inherit-env opt in (${platform})`,
      async () => {
        const none = await runShow(platform, []);
        expect(none.status).toBe(0);
        expect(none.out).not.toMatch(/^env=/m);
        const some = await runShow(platform, [
          "--env",
          "A=1",
          "--env",
          "HOME",
          "--env",
          "KINDLING_SURELY_UNSET",
          "--clear-env",
        ]);
        expect(some.status).toBe(0);
        expect(some.out.match(/^env=.*$/gm)).toEqual(["env=A=1", `env=HOME=${process.env.HOME}`]);
        const all = await runShow(platform, ["--inherit-env", "--env", "A=2"]);
        expect(all.out).toContain(`env=PATH=${process.env.PATH}`);
        expect(all.out).toContain("env=A=2");
      },
    );
    it.skipIf(platform === "kvm" && skip)(
      `argv[0], /proc/self/exe, AT_EXECFN and maps show sandbox paths (${platform})`,
      async () => {
        const outside = await runShow(platform, [], [show]);
        expect(outside.status, outside.err).toBe(0);
        expect(outside.out).toContain("exe=/.kindling/show\nargv0=/.kindling/show\nexecfn=/.kindling/show\n");
        expect(outside.out).toContain("maps-has-host-path=0");
        expect(outside.out).not.toContain(hostDir);
        const mounted = await runShow(platform, ["--mount", `${hostDir}:/opt/bin`], [show]);
        expect(mounted.status, mounted.err).toBe(0);
        expect(mounted.out).toContain("exe=/opt/bin/show\nargv0=/opt/bin/show\nexecfn=/opt/bin/show\n");
        expect(mounted.out).toContain("maps-has-host-path=0");
      },
    );
    it.skipIf(platform === "kvm" && skip)(
      `a mount under a --tmpfs or a missing parent works in any order (${platform})`,
      async () => {
        const r = await runShow(platform, [
          "--mount",
          `${hostDir}:/t/x/bin`,
          "--tmpfs",
          "/t",
          "--mount",
          `${hostDir}:/a/b/c`,
        ]);
        expect(r.status, r.err).toBe(0);
        expect(r.out).toContain("exe=/t/x/bin/show\n");
      },
    );
    it.skipIf(platform === "kvm" && skip)(
      `--memory 4G gives the program memory above 2 GiB (${platform})`,
      async () => {
        const big = compile(
          "above2g",
          `#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
int main(void) {
  size_t n = 3000ul << 20;
  char *p = malloc(n);
  if (!p) return 99;
  for (size_t i = 0; i < n; i += 1 << 20) p[i] = 1;
  /* The stack is at the top of memory on kvm; the heap reaches past 2 GiB on both platforms. */
  return (uintptr_t)(p + n - 1) > 0x80000000u ? 0 : 3;
}`,
        );
        const r = await kindling(["run", "--platform", platform, "--memory", "4G", big]);
        expect(r.status, r.err).toBe(0);
      },
    );
    it.skipIf(platform === "kvm" && skip)(`--pids limits the program's tasks (${platform})`, async () => {
      const threads = compile(
        "threads",
        `#include <pthread.h>
#include <unistd.h>
static void *idle(void *a) { (void)a; pause(); return 0; }
int main(void) {
  pthread_t t;
  int made = 0;
  while (made < 8 && pthread_create(&t, 0, idle, 0) == 0) made++;
  return made; /* threads made before the limit */
}`,
        "cc",
        ["-static", "-O1", "-pthread"],
      );
      expect((await kindling(["run", "--platform", platform, "--pids", "3", threads])).status).toBe(2);
      expect((await kindling(["run", "--platform", platform, "--pids", "1", threads])).status).toBe(0);
      expect((await kindling(["run", "--platform", platform, threads])).status).toBe(8);
    });
    // On kvm a thread blocked on a pipe waits while the others run. On seccomp (a known gap until the
    // waiter queues of the processes issue) its blocking read holds the one thread that serves every
    // thread's calls, the writer's write is never served, and the libos stops the program as a
    // deadlock: then the reason must be printed and the status be SIGKILL's, never a hang.
    it.skipIf(platform === "kvm" && skip)(
      platform === "kvm"
        ? "a thread blocked on a pipe waits for another thread, not a deadlock (kvm)"
        : "a thread blocked on a pipe that only another thread can end is stopped as a deadlock, and says so (seccomp)",
      async () => {
        const prog = compile(
          "pipe-threads",
          `#include <pthread.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
static int p[2], q[2];
static char big[200000];
static void *writer(void *a) { (void)a; usleep(100000); write(p[1], "x", 1); usleep(100000); write(p[1], "y", 1); return 0; }
static void *drainer(void *a) { (void)a; usleep(100000); char b[4096]; long got = 0, n;
  while (got < (long)sizeof big && (n = read(q[0], b, sizeof b)) > 0) got += n; return (void *)got; }
int main(void) {
  int bad = 0; char c = 0; pthread_t t; void *got;
  pipe(p); pipe(q);
  pthread_create(&t, 0, writer, 0);
  if (read(p[0], &c, 1) != 1 || c != 'x') bad |= 1;                     /* read waits for a thread's write */
  struct pollfd f = { p[0], POLLIN, 0 };
  if (poll(&f, 1, -1) != 1 || read(p[0], &c, 1) != 1 || c != 'y') bad |= 2; /* poll(-1) too */
  pthread_join(t, 0);
  memset(big, 'z', sizeof big);
  pthread_create(&t, 0, drainer, 0);
  /* A full pipe waits for a reader (with cooperative threads a write that already put bytes returns them). */
  long put = 0, n;
  while (put < (long)sizeof big && (n = write(q[1], big + put, sizeof big - put)) > 0) put += n;
  if (put != (long)sizeof big) bad |= 4;
  pthread_join(t, &got);
  if ((long)got != (long)sizeof big) bad |= 8;
  return bad;
}`,
          "cc",
          ["-static", "-O1", "-pthread"],
        );
        const r = await kindling(["run", "--platform", platform, "--timeout", "20", prog]);
        if (platform === "kvm") {
          expect(r.status, r.err).toBe(0);
        } else {
          expect(r.status, r.err).toBe(128 + 9);
          expect(r.err).toContain("kindling: the program was stopped: deadlock");
        }
      },
    );
    it.skipIf(platform === "kvm" && skip)(`why the sandbox stopped a program is printed (${platform})`, async () => {
      const stuck = compile(
        "stuck",
        "#include <unistd.h>\nint main(void){ int p[2]; char c; pipe(p); return read(p[0], &c, 1); }",
      );
      const r = await kindling(["run", "--platform", platform, stuck]);
      expect(r.status).toBe(128 + 9);
      expect(r.err).toContain("kindling: the program was stopped: deadlock: a pipe wait that nothing can end");
      const spin = compile("cpu-spin", "int main(void){ for(;;){} }");
      const c = await kindling(["run", "--platform", platform, "--cpu-limit", "0.5", "--timeout", "30", spin]);
      expect(c.status).toBe(128 + 24); // SIGXCPU
      expect(c.err).toContain("kindling: the program was stopped: cpu-limit");
    });
  }
});
