import { execFileSync, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { release } from "node:os";
import { join } from "node:path";
import {
  MemoryFault,
  Resume,
  recvWakesOnExit,
  SECCOMP_IOCTL_NOTIF_ADDFD,
  SECCOMP_IOCTL_NOTIF_ID_VALID,
  SECCOMP_IOCTL_NOTIF_RECV,
  SECCOMP_IOCTL_NOTIF_SEND,
  SECCOMP_NOTIF_ADDFD_SIZE,
  SECCOMP_NOTIF_RESP_SIZE,
  SECCOMP_NOTIF_SIZE,
  SeccompPlatform,
  SeccompPlatformError,
  type SeccompTask,
} from "@kindling/syscall-tap";
import { describe, expect, it } from "vitest";
import { CaptureServer, compile, dir, hasCompiler } from "./seccomp-helpers.js";

const cc = hasCompiler("cc");
if (!cc) console.warn("seccomp platform tests skipped: no C compiler `cc` to build the test programs");

/**
 * For servers that let path calls (open, execve) run natively on host paths:
 * the jail without its empty root (still unprivileged, in its own namespaces).
 */
const HOST_ROOT = { emptyRoot: false } as const;

describe.skipIf(!cc)("seccomp ABI", () => {
  it("ioctl numbers and struct sizes match <linux/seccomp.h>", () => {
    const bin = join(dir, "abi");
    writeFileSync(
      `${bin}.c`,
      `#include <stdio.h>
#include <sys/ioctl.h>
#include <linux/seccomp.h>
int main(void) {
  printf("%lu %lu %lu %lu %zu %zu %zu\\n", (unsigned long)SECCOMP_IOCTL_NOTIF_RECV, (unsigned long)SECCOMP_IOCTL_NOTIF_SEND,
    (unsigned long)SECCOMP_IOCTL_NOTIF_ID_VALID, (unsigned long)SECCOMP_IOCTL_NOTIF_ADDFD,
    sizeof(struct seccomp_notif), sizeof(struct seccomp_notif_resp), sizeof(struct seccomp_notif_addfd));
  return 0;
}
`,
    );
    execFileSync("cc", ["-o", bin, `${bin}.c`]);
    const got = execFileSync(bin, { encoding: "utf8" }).trim().split(" ").map(Number);
    expect(got).toEqual([
      SECCOMP_IOCTL_NOTIF_RECV,
      SECCOMP_IOCTL_NOTIF_SEND,
      SECCOMP_IOCTL_NOTIF_ID_VALID,
      SECCOMP_IOCTL_NOTIF_ADDFD,
      SECCOMP_NOTIF_SIZE,
      SECCOMP_NOTIF_RESP_SIZE,
      SECCOMP_NOTIF_ADDFD_SIZE,
    ]);
  });
});

describe.skipIf(!cc)("seccomp platform", () => {
  const hello = cc
    ? compile(
        "hello",
        `#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
  write(1, "hello\\n", 6);
  printf("ppid=%d argc=%d arg1=%s\\n", (int)getppid(), argc, argc > 1 ? argv[1] : "-");
  fflush(stdout);
  return 7;
}
`,
      )
    : "";

  it("runs a static program: getppid is served, writes are captured, the exit code comes back", () => {
    const server = new CaptureServer();
    const proc = SeccompPlatform.spawn({ file: hello, argv: [hello, "xyz"], env: [] });
    const exit = proc.run(server);
    expect(server.stdout).toBe("hello\nppid=4242 argc=2 arg1=xyz\n");
    expect(exit.exitCode).toBe(7);
    expect(exit.signal).toBeNull();
    expect(exit.killedByServer).toBe(false);
    expect(proc.served).toBeGreaterThanOrEqual(3);
  });

  it("memory-only system calls run natively (no notification for brk/mmap/munmap)", () => {
    const prog = compile(
      "memonly",
      `#include <sys/mman.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(void) {
  for (int i = 0; i < 100; i++) {
    char *p = mmap(0, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 1;
    p[0] = 1; p[(1 << 20) - 1] = 2;
    mprotect(p, 4096, PROT_READ);
    munmap(p, 1 << 20);
    syscall(SYS_brk, 0);
  }
  return getppid() == 4242 ? 0 : 2;
}
`,
    );
    const server = new CaptureServer();
    const seen = new Set<number>();
    server.hook = (_t, ev) => {
      seen.add(ev.nr);
      return undefined;
    };
    const exit = SeccompPlatform.spawn({ file: prog, argv: [prog], env: [] }).run(server);
    expect(exit.exitCode).toBe(0);
    for (const nr of [9, 10, 11, 12]) expect(seen.has(nr)).toBe(false);
    expect(seen.has(110)).toBe(true);
  });

  it("a file-backed mmap is notified (the fd may be virtual), an anonymous one is not", () => {
    const prog = compile(
      "filemap",
      `#include <sys/mman.h>
#include <fcntl.h>
#include <unistd.h>
int main(int argc, char **argv) {
  int fd = open(argv[0], O_RDONLY);
  char *p = mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) return 1;
  return p[1] == 'E' ? 0 : 3;
}
`,
    );
    const server = new CaptureServer();
    const mmaps: number[] = [];
    server.hook = (_t, ev) => {
      if (ev.nr === 9) mmaps.push(ev.argI32(4));
      return undefined;
    };
    // This server lets open run natively on a host path in a 0700 test directory: a plain child (no jail).
    const exit = SeccompPlatform.spawn({ file: prog, argv: [prog], env: [], jail: false }).run(server);
    expect(exit.exitCode).toBe(0);
    expect(mmaps.length).toBe(1);
    expect(mmaps[0]).toBeGreaterThanOrEqual(3);
  });

  it("reports exit codes and signals", () => {
    const prog = compile(
      "exits",
      `#include <stdlib.h>
#include <signal.h>
#include <string.h>
int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "segv") == 0) { volatile int *p = (int *)8; *p = 1; }
  if (argc > 1 && strcmp(argv[1], "abort") == 0) abort();
  return argc > 1 ? atoi(argv[1]) : 0;
}
`,
    );
    const run = (arg: string) =>
      SeccompPlatform.spawn({ file: prog, argv: [prog, arg], env: [] }).run(new CaptureServer());
    expect(run("42").exitCode).toBe(42);
    expect(run("0").exitCode).toBe(0);
    const segv = run("segv");
    expect(segv.signal).toBe(11);
    expect(segv.exitCode).toBeNull();
    expect(run("abort").signal).toBe(6);
  });

  it("hostile pointers reach the server as MemoryFault, and the program sees EFAULT", () => {
    const prog = compile(
      "badptr",
      `#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
  int bad = 0;
  long r = syscall(SYS_write, 1, (void *)0x10, 5);
  if (r == -1 && errno == EFAULT) bad++;
  r = syscall(SYS_write, 1, (void *)0xffffffffffff0000UL, 5);
  if (r == -1 && errno == EFAULT) bad++;
  char *p = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  p[4095] = 'x';
  munmap(p + 4096, 4096);
  r = syscall(SYS_write, 1, p + 4090, 10);   /* crosses into the unmapped page */
  if (r == -1 && errno == EFAULT) bad++;
  r = syscall(SYS_write, 1, p + 4095, 1);    /* the last good byte */
  if (r == 1) bad++;
  char *q = mmap(0, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  r = syscall(SYS_write, 1, q, 1);           /* PROT_NONE: no access, like the kernel's copy_from_user */
  if (r == -1 && errno == EFAULT) bad++;
  return bad;
}
`,
    );
    const server = new CaptureServer();
    const exit = SeccompPlatform.spawn({ file: prog, argv: [prog], env: [] }).run(server);
    expect(exit.exitCode).toBe(5);
    expect(server.faults).toBe(4);
    expect(server.stdout).toBe("x");
  });

  it("server writes into program memory honour page protections", () => {
    const prog = compile(
      "memwrite",
      `#include <sys/mman.h>
#include <unistd.h>
#include <stdio.h>
int main(void) {
  char *p = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  mprotect(p + 4096, 4096, PROT_READ);
  long a = syscall(1000, p, 0);          /* the server writes "ok" at p */
  long b = syscall(1000, p + 4096, 0);   /* read-only: the server's write faults */
  printf("%ld %ld %s\\n", a, b, p);
  fflush(stdout);
  return 0;
}
`,
    );
    const server = new CaptureServer();
    let lastFault: unknown;
    server.hook = (task, ev) => {
      if (ev.nr !== 1000) return undefined;
      try {
        task.memory.write(ev.arg(0), new TextEncoder().encode("ok\0"));
        return 1;
      } catch (e) {
        lastFault = e;
        return -14;
      }
    };
    const exit = SeccompPlatform.spawn({ file: prog, argv: [prog], env: [] }).run(server);
    expect(exit.exitCode).toBe(0);
    expect(server.stdout).toBe("1 -1 ok\n");
    expect(lastFault).toBeInstanceOf(MemoryFault);
  });

  it("the child dying in the middle of a served call ends the run with its signal", () => {
    const server = new CaptureServer();
    const proc = SeccompPlatform.spawn({ file: hello, argv: [hello], env: [] });
    server.hook = (task, ev) => {
      if (ev.nr !== 110) return undefined;
      process.kill(proc.pid, "SIGKILL");
      // The task is gone: the notification is no longer valid, the answer is dropped.
      // (SIGKILL is delivered asynchronously: wait, boundedly, for the task to leave the notification.)
      let valid = true;
      const until = Date.now() + 10_000;
      while (valid && Date.now() < until) valid = (task as SeccompTask).notificationValid();
      expect(valid).toBe(false);
      return 4242;
    };
    const exit = proc.run(server);
    expect(exit.signal).toBe(9);
    expect(server.stdout).toBe("hello\n");
  });

  it("Resume.Exit kills the task", () => {
    const server = new CaptureServer();
    server.hook = (_t, ev, outcome) => {
      if (ev.nr !== 110) return undefined;
      outcome.resume = Resume.Exit;
      return 0;
    };
    const exit = SeccompPlatform.spawn({ file: hello, argv: [hello], env: [] }).run(server);
    expect(exit.signal).toBe(9);
    expect(exit.killedByServer).toBe(true);
  });

  it("a server error kills the child and propagates; registers are not available", () => {
    const server = new CaptureServer();
    server.hook = (task, ev) => {
      if (ev.nr !== 110) return undefined;
      task.getRegisters();
      return 0;
    };
    const proc = SeccompPlatform.spawn({ file: hello, argv: [hello], env: [] });
    expect(() => proc.run(server)).toThrow(SeccompPlatformError);
    expect(proc.exit?.signal).toBe(9);
    const nan = new CaptureServer();
    nan.hook = (_t, ev) => (ev.nr === 110 ? Number.NaN : undefined);
    const p2 = SeccompPlatform.spawn({ file: hello, argv: [hello], env: [] });
    expect(() => p2.run(nan)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(p2.exit?.signal).toBe(9);
  });

  it("installs host fds into the program with ADDFD", () => {
    const secret = join(mkdtempSync(join(dir, "files-")), "secret.txt");
    writeFileSync(secret, "from the host\n");
    const prog = compile(
      "addfd",
      `#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
int main(void) {
  int fd = open("/virtual/secret", O_RDONLY);
  if (fd < 0) return 1;
  char buf[100];
  int n = read(fd, buf, sizeof buf);
  write(1, buf, n);
  int flags = fcntl(fd, F_GETFD);
  /* fd 9 installed at a fixed number with close-on-exec */
  int n9 = read(9, buf, sizeof buf);
  printf("fd=%d cloexec=%d fd9flags=%d n9=%d\\n", fd, flags, fcntl(9, F_GETFD), n9);
  fflush(stdout);
  return 0;
}
`,
    );
    const server = new CaptureServer();
    server.hook = (task, ev) => {
      if (ev.nr !== 257) return undefined;
      const path = Buffer.from(task.memory.readCString(ev.arg(1), 4096) ?? []).toString();
      if (path !== "/virtual/secret") return -2;
      const t = task as SeccompTask;
      const h = openSync(secret, "r");
      const h9 = openSync(secret, "r");
      try {
        expect(t.installFd(h9, 9, true)).toBe(9);
        return t.returnFd(h);
      } finally {
        closeSync(h);
        closeSync(h9);
      }
    };
    const exit = SeccompPlatform.spawn({ file: prog, argv: [prog], env: [] }).run(server);
    expect(exit.exitCode).toBe(0);
    expect(server.stdout).toMatch(/^from the host\nfd=3 cloexec=0 fd9flags=1 n9=14\n$/);
  });

  const musl = hasCompiler("musl-gcc");
  it.skipIf(!musl)("runs a musl program (stdout through writev)", () => {
    const prog = compile(
      "hello-musl",
      `#include <stdio.h>
#include <unistd.h>
int main(void) { printf("musl ppid=%d\\n", (int)getppid()); return 3; }
`,
      "musl-gcc",
    );
    const server = new CaptureServer();
    const exit = SeccompPlatform.spawn({ file: prog, argv: [prog], env: [] }).run(server);
    expect(server.stdout).toBe("musl ppid=4242\n");
    expect(exit.exitCode).toBe(3);
  });

  const busybox = ["/usr/bin/busybox", "/bin/busybox"].find((p) => existsSync(p));
  if (!busybox) console.warn("busybox test skipped: busybox-static is not installed");
  it.skipIf(!busybox)(
    "runs Debian's busybox-static with native pass-through: same output and status as natively",
    () => {
      const cases: string[][] = [
        ["echo", "hello", "world"],
        ["sh", "-c", "echo a; printf '%s-%d\\n' x 5; exit 3"],
        ["wc", "-c", busybox!],
        ["seq", "3"],
      ];
      for (const args of cases) {
        const native = spawnSync(busybox!, args, { encoding: "utf8" });
        const server = new CaptureServer();
        const exit = SeccompPlatform.spawn({
          file: busybox!,
          argv: ["busybox", ...args],
          env: [],
          jail: HOST_ROOT,
        }).run(server);
        expect(server.stdout).toBe(native.stdout);
        expect(exit.exitCode).toBe(native.status);
      }
    },
  );

  it("a wall-time limit kills a program that never makes a system call, or blocks in one", () => {
    const prog = compile(
      "spin",
      `#include <unistd.h>
int main(int argc, char **argv) {
  if (argc > 1) pause();
  for (volatile unsigned long i = 0;; i++) {}
}
`,
    );
    const modes = recvWakesOnExit() ? (["poll", "recv"] as const) : (["poll"] as const);
    for (const waitMode of modes) {
      for (const argv of [[prog], [prog, "pause"]]) {
        const server = new CaptureServer();
        server.hook = (_t, ev, outcome) => {
          if (ev.nr !== 34) return undefined;
          outcome.resume = Resume.Continue; // pause() natively
          return 0;
        };
        const proc = SeccompPlatform.spawn({ file: prog, argv, env: [], waitMode });
        const exit = proc.run(server, { timeoutMs: 200 });
        expect(exit.timedOut).toBe(true);
        expect(exit.signal).toBe(9);
      }
      // A run that ends before its deadline is not a timeout (and the timer is gone afterwards).
      const quick = SeccompPlatform.spawn({ file: hello, argv: [hello], env: [], waitMode }).run(new CaptureServer(), {
        timeoutMs: 60_000,
      });
      expect(quick.timedOut).toBe(false);
      expect(quick.exitCode).toBe(7);
    }
  });

  it("enforces CPU-time and address-space limits through the host kernel", () => {
    const prog = compile(
      "limits",
      `#include <stdlib.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
  if (strcmp(argv[1], "mem") == 0) {
    void *p = malloc(256 << 20);
    printf("%s\\n", p ? "allocated" : "ENOMEM");
    fflush(stdout);
    return 0;
  }
  for (volatile unsigned long i = 0;; i++) {}
}
`,
    );
    const server = new CaptureServer();
    const mem = SeccompPlatform.spawn({
      file: prog,
      argv: [prog, "mem"],
      env: [],
      limits: { addressSpaceBytes: 64 << 20 },
    }).run(server);
    expect(mem.exitCode).toBe(0);
    expect(server.stdout).toBe("ENOMEM\n");
    const cpu = SeccompPlatform.spawn({ file: prog, argv: [prog, "cpu"], env: [], limits: { cpuSeconds: 1 } }).run(
      new CaptureServer(),
      { timeoutMs: 60_000 },
    );
    expect(cpu.timedOut).toBe(false);
    expect([24, 9]).toContain(cpu.signal); // SIGXCPU at the soft limit (SIGKILL at the hard one)
    expect(() => SeccompPlatform.spawn({ file: prog, argv: [prog], env: [], limits: { cpuSeconds: -1 } })).toThrow(
      SeccompPlatformError,
    );
  });

  it.skipIf(!busybox)("serves every process of a pipeline (children inherit the filter)", () => {
    const server = new CaptureServer();
    const pids = new Set<number>();
    server.hook = (_t, ev, outcome) => {
      pids.add((ev as unknown as { pid: number }).pid);
      if (ev.nr === 1) {
        // Writes run natively: each process's fd 1 is its own (a pipe, or the output file).
        outcome.resume = Resume.Continue;
        return 0;
      }
      return undefined;
    };
    const outFile = join(mkdtempSync(join(dir, "pipe-")), "out");
    const out = openSync(outFile, "w");
    const script = `${busybox} echo piped | ${busybox} tr a-z A-Z; echo "ppid=$PPID"`;
    try {
      const exit = SeccompPlatform.spawn({
        file: busybox!,
        argv: ["sh", "-c", script],
        env: [],
        fds: [0, out, 2],
        jail: HOST_ROOT,
      }).run(server);
      expect(exit.exitCode).toBe(0);
    } finally {
      closeSync(out);
    }
    expect(readFileSync(outFile, "utf8")).toBe("PIPED\nppid=4242\n");
    expect(pids.size).toBeGreaterThanOrEqual(3);
  });

  for (const waitMode of ["poll", "recv"] as const) {
    const supported = waitMode === "poll" || recvWakesOnExit();
    if (!supported) console.warn(`waitMode "recv" test skipped: Linux ${release()} is older than 6.11`);
    it.skipIf(!supported)(
      `waitMode "${waitMode}": exits, signals, kills and forks end the run with the right status`,
      () => {
        const prog = compile(
          `modes-${waitMode}`,
          `#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (strcmp(argv[1], "segv") == 0) { volatile int *p = (int *)8; *p = 1; }
  if (strcmp(argv[1], "kill") == 0) { getppid(); pause(); }
  if (strcmp(argv[1], "fork") == 0) {
    pid_t c = fork();
    if (c == 0) _exit(getppid() == 4242 ? 9 : 1);
    int st; waitpid(c, &st, 0);
    return WEXITSTATUS(st) + 10;
  }
  return atoi(argv[1]);
}
`,
        );
        const run = (arg: string, server = new CaptureServer()) =>
          SeccompPlatform.spawn({ file: prog, argv: [prog, arg], env: [], waitMode }).run(server);
        expect(run("42").exitCode).toBe(42);
        expect(run("segv").signal).toBe(11);
        expect(run("fork").exitCode).toBe(19);
        const server = new CaptureServer();
        let pid = 0;
        server.hook = (_t, ev, outcome) => {
          if (ev.nr === 110) process.kill(pid, "SIGKILL");
          if (ev.nr === 34) {
            outcome.resume = Resume.Continue; // pause() natively: only the kill ends it
            return 0;
          }
          return undefined;
        };
        const proc = SeccompPlatform.spawn({ file: prog, argv: [prog, "kill"], env: [], waitMode });
        expect(proc.waitMode).toBe(waitMode);
        pid = proc.pid;
        expect(proc.run(server).signal).toBe(9);
      },
    );
  }

  it("ADDFD into a task that died is not an error of the run; a bad host fd is EBADF", () => {
    const server = new CaptureServer();
    const proc = SeccompPlatform.spawn({ file: hello, argv: [hello], env: [] });
    let badFd: unknown;
    server.hook = (task, ev) => {
      if (ev.nr !== 110) return undefined;
      try {
        (task as SeccompTask).installFd(987654);
      } catch (e) {
        badFd = e;
      }
      process.kill(proc.pid, "SIGKILL");
      const until = Date.now() + 10_000;
      while ((task as SeccompTask).notificationValid() && Date.now() < until) {}
      return (task as SeccompTask).returnFd(0);
    };
    const exit = proc.run(server);
    expect(badFd).toMatchObject({ code: "EBADF" });
    expect(exit.signal).toBe(9);
  });

  it("a signal arriving while the server works does not restart the served call (WAIT_KILLABLE_RECV)", () => {
    const prog = compile(
      "sigduring",
      `#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
static volatile int alarms;
static void on_alarm(int s) { (void)s; alarms++; }
int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, 0);
  struct itimerval it = {{0, 0}, {0, 20000}};   /* SIGALRM in 20 ms, during the served call */
  setitimer(ITIMER_REAL, &it, 0);
  long r = syscall(1000);
  printf("r=%ld alarms=%d\\n", r, alarms);
  fflush(stdout);
  return 0;
}
`,
    );
    const server = new CaptureServer();
    let served = 0;
    server.hook = (_t, ev) => {
      if (ev.nr !== 1000) return undefined;
      served++;
      const until = Date.now() + 300; // the server is slow: the alarm fires meanwhile
      while (Date.now() < until) {}
      return 77;
    };
    const exit = SeccompPlatform.spawn({ file: prog, argv: [prog], env: [] }).run(server);
    expect(exit.exitCode).toBe(0);
    expect(server.stdout).toBe("r=77 alarms=1\n");
    expect(served).toBe(1);
  });

  it("a missing or non-executable file fails spawn with its errno (no hang in the spawn gate)", () => {
    expect(() => SeccompPlatform.spawn({ file: join(dir, "does-not-exist"), argv: ["x"], env: [] })).toThrow(
      expect.objectContaining({ code: "ENOENT" }),
    );
    const notExec = join(dir, "plain.txt");
    writeFileSync(notExec, "not a program");
    expect(() => SeccompPlatform.spawn({ file: notExec, argv: ["x"], env: [] })).toThrow(
      expect.objectContaining({ code: "EACCES" }),
    );
  });

  it("allowNative replaces the native list (here: only exit_group, so brk and mmap are notified)", () => {
    const server = new CaptureServer();
    const seen = new Set<number>();
    server.hook = (_t, ev) => {
      seen.add(ev.nr);
      return undefined;
    };
    const exit = SeccompPlatform.spawn({ file: hello, argv: [hello], env: [], allowNative: ["exit_group"] }).run(
      server,
    );
    expect(exit.exitCode).toBe(7);
    expect(server.stdout).toBe("hello\nppid=4242 argc=1 arg1=-\n");
    expect(seen.has(12) || seen.has(9)).toBe(true);
    expect(seen.has(231)).toBe(false);
  });

  it("measures the round trip of a served getppid (reported, not asserted)", () => {
    const prog = compile(
      "loop",
      `#include <unistd.h>
#include <stdlib.h>
int main(int argc, char **argv) {
  int n = atoi(argv[1]);
  for (int i = 0; i < n; i++) if (getppid() != 4242) return 1;
  return 0;
}
`,
    );
    const n = 20000;
    const t0 = process.hrtime.bigint();
    const exit = SeccompPlatform.spawn({ file: prog, argv: [prog, String(n)], env: [] }).run(new CaptureServer());
    const dt = Number(process.hrtime.bigint() - t0) / n / 1000;
    expect(exit.exitCode).toBe(0);
    console.log(`seccomp platform: ${dt.toFixed(2)} µs per served getppid (${n} calls, incl. start-up)`);
  });
});
