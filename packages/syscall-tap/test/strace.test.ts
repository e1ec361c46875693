import { existsSync, readFileSync } from "node:fs";
import {
  fillsBuffer,
  formatOpenFlags,
  formatResult,
  formatSyscall,
  quoteBytes,
  Resume,
  SeccompPlatform,
  SYSCALL_NAMES,
  type SyscallEvent,
  type SyscallServer,
  SyscallStats,
  syscallName,
  syscallNumber,
  type TaskControl,
  Tracer,
} from "@kindling/syscall-tap";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CaptureServer, compile, hasCompiler } from "./seccomp-helpers.js";
import { ArrayMemory, event } from "./strace-helpers.js";

const BASE = 0x10000;
const mem = () => new ArrayMemory(BASE, 0x4000);

describe("syscall names", () => {
  it("has the full x86-64 table", () => {
    expect(syscallName(0)).toBe("read");
    expect(syscallName(257)).toBe("openat");
    expect(syscallName(231)).toBe("exit_group");
    expect(syscallName(435)).toBe("clone3");
    expect(syscallNumber("openat2")).toBe(437);
    expect(syscallName(1000)).toBe("syscall_0x3e8");
    expect(syscallName(-1)).toBe("syscall_-1");
    expect(SYSCALL_NAMES.filter((n) => n !== "").length).toBeGreaterThan(350);
  });

  it.skipIf(!existsSync("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"))(
    "agrees with every number in this machine's <asm/unistd_64.h>",
    () => {
      const header = readFileSync("/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "utf8");
      let n = 0;
      for (const m of header.matchAll(/^#define __NR_(\w+)\s+(\d+)\s*$/gm)) {
        expect(syscallName(Number(m[2]))).toBe(m[1]);
        expect(syscallNumber(m[1]!)).toBe(Number(m[2]));
        n++;
      }
      expect(n).toBeGreaterThan(300);
    },
  );
});

describe("formatSyscall", () => {
  it("decodes openat like strace", () => {
    const m = mem();
    const p = m.putString(BASE, "/etc/passwd");
    expect(formatSyscall(event(257, -100, p, 0), m)).toBe('openat(AT_FDCWD, "/etc/passwd", O_RDONLY)');
    expect(formatSyscall(event(257, -100, p, 0o2000000), m)).toBe(
      'openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC)',
    );
    expect(formatSyscall(event(257, 3, p, 0o1101, 0o644), m)).toBe(
      'openat(3, "/etc/passwd", O_WRONLY|O_CREAT|O_TRUNC, 0644)',
    );
    expect(formatSyscall(event(2, p, 0o2200002), m)).toBe('open("/etc/passwd", O_RDWR|O_DIRECTORY|O_CLOEXEC)');
  });

  it("prints write data with strace's 32-byte truncation and escapes", () => {
    const m = mem();
    m.write(BASE, new TextEncoder().encode('hi "x"\\\n\t'));
    expect(formatSyscall(event(1, 1, BASE, 9), m)).toBe('write(1, "hi \\"x\\"\\\\\\n\\t", 9)');
    m.write(BASE, new Uint8Array([0, 1, 0x1b, 0x5b, 0x30, 0xff, 0x37]));
    expect(formatSyscall(event(1, 2, BASE, 7), m)).toBe('write(2, "\\0\\1\\33[0\\3777", 7)');
    const long = "a".repeat(40);
    m.write(BASE, new TextEncoder().encode(long));
    expect(formatSyscall(event(1, 1, BASE, 40), m)).toBe(`write(1, "${"a".repeat(32)}"..., 40)`);
  });

  it("escapes octal before a digit with three digits", () => {
    expect(quoteBytes(new Uint8Array([1, 0x31]), false)).toBe('"\\0011"');
    expect(quoteBytes(new Uint8Array([1, 0x41]), false)).toBe('"\\1A"');
    expect(quoteBytes(new Uint8Array([0x41]), true)).toBe('"A"...');
  });

  it("decodes mmap, mprotect and friends", () => {
    const m = mem();
    expect(formatSyscall(event(9, 0, 8192, 3, 0x22, -1, 0), m)).toBe(
      "mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)",
    );
    expect(formatSyscall(event(9, 0x7f0000000000n, 4096, 5, 0x812, 3, 0x2000), m)).toBe(
      "mmap(0x7f0000000000, 4096, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE, 3, 0x2000)",
    );
    expect(formatSyscall(event(10, 0x1000, 4096, 0), m)).toBe("mprotect(0x1000, 4096, PROT_NONE)");
    expect(formatSyscall(event(12, 0), m)).toBe("brk(NULL)");
    expect(formatSyscall(event(8, 3, -1, 2), m)).toBe("lseek(3, -1, SEEK_END)");
    expect(formatSyscall(event(158, 0x1002, 0x4a5f80), m)).toBe("arch_prctl(ARCH_SET_FS, 0x4a5f80)");
    expect(formatSyscall(event(13, 2, 0x1000, 0, 8), m)).toBe("rt_sigaction(SIGINT, 0x1000, NULL, 8)");
    expect(formatSyscall(event(14, 2, 0, 0x2000, 8), m)).toBe("rt_sigprocmask(SIG_SETMASK, NULL, 0x2000, 8)");
    expect(formatSyscall(event(72, 3, 2, 1), m)).toBe("fcntl(3, F_SETFD, FD_CLOEXEC)");
    expect(formatSyscall(event(72, 3, 1), m)).toBe("fcntl(3, F_GETFD)");
    expect(formatSyscall(event(202, 0x1000, 129, 1), m)).toBe("futex(0x1000, FUTEX_WAKE_PRIVATE, 1)");
    expect(formatSyscall(event(228, 1, 0x1000), m)).toBe("clock_gettime(CLOCK_MONOTONIC, 0x1000)");
    expect(formatSyscall(event(262, -100, m.putString(BASE, "a"), 0x1000, 0x100), m)).toBe(
      'newfstatat(AT_FDCWD, "a", 0x1000, AT_SYMLINK_NOFOLLOW)',
    );
    expect(formatSyscall(event(21, m.putString(BASE, "/x"), 6), m)).toBe('access("/x", R_OK|W_OK)');
    expect(formatSyscall(event(21, m.putString(BASE, "/x"), 0), m)).toBe('access("/x", F_OK)');
    expect(formatSyscall(event(16, 1, 0x5413, 0x1000), m)).toBe("ioctl(1, TIOCGWINSZ, 0x1000)");
    expect(formatSyscall(event(234, 5, 5, 6), m)).toBe("tgkill(5, 5, SIGABRT)");
    expect(formatSyscall(event(231, 0), m)).toBe("exit_group(0)");
    expect(formatSyscall(event(110), m)).toBe("getppid()");
    expect(formatSyscall(event(157, 16, 0x1000, 0, 0, 0), m)).toBe("prctl(PR_GET_NAME, 0x1000, 0, 0, 0)");
    expect(formatSyscall(event(1000, 1, 2), m)).toBe("syscall_0x3e8(0x1, 0x2, 0, 0, 0, 0)");
  });

  it("shows buffers a call filled once it has returned", () => {
    const m = mem();
    m.write(BASE, new TextEncoder().encode("root:x:0:0:root:/root:/bin/bash\nbin:x"));
    expect(formatSyscall(event(0, 3, BASE, 4096), m)).toBe(`read(3, 0x${BASE.toString(16)}, 4096)`);
    expect(formatSyscall(event(0, 3, BASE, 4096), m, 37)).toBe(
      'read(3, "root:x:0:0:root:/root:/bin/bash\\n"..., 4096)',
    );
    expect(formatSyscall(event(0, 3, BASE, 4096), m, 4)).toBe('read(3, "root", 4096)');
    expect(formatSyscall(event(0, 3, BASE, 4096), m, -14)).toBe(`read(3, 0x${BASE.toString(16)}, 4096)`);
    m.putString(BASE + 0x100, "/home/user");
    expect(formatSyscall(event(79, BASE + 0x100, 4096), m, 11)).toBe('getcwd("/home/user", 4096)');
    expect(fillsBuffer(0)).toBe(true);
    expect(fillsBuffer(1)).toBe(false);
  });

  it("decodes iovecs for writev and, once returned, readv", () => {
    const m = mem();
    const a = m.putString(BASE, "hello ");
    const b = m.putString(BASE + 0x20, "world\n");
    const iov = BASE + 0x100;
    m.writeU64(iov, a);
    m.writeU64(iov + 8, 6);
    m.writeU64(iov + 16, b);
    m.writeU64(iov + 24, 6);
    expect(formatSyscall(event(20, 1, iov, 2), m)).toBe(
      'writev(1, [{iov_base="hello ", iov_len=6}, {iov_base="world\\n", iov_len=6}], 2)',
    );
    expect(formatSyscall(event(19, 0, iov, 2), m)).toBe(`readv(0, 0x${iov.toString(16)}, 2)`);
    expect(formatSyscall(event(19, 0, iov, 2), m, 8)).toBe(
      'readv(0, [{iov_base="hello ", iov_len=6}, {iov_base="wo", iov_len=6}], 2)',
    );
    expect(formatSyscall(event(20, 1, 0xdead000, 2), m)).toBe("writev(1, 0xdead000, 2)");
    expect(fillsBuffer(19)).toBe(true);
  });

  it("decodes execve's argv and counts envp", () => {
    const m = mem();
    const path = m.putString(BASE, "/bin/ls");
    const a0 = m.putString(BASE + 0x100, "ls");
    const a1 = m.putString(BASE + 0x110, "-la");
    const argv = BASE + 0x200;
    m.writeU64(argv, a0);
    m.writeU64(argv + 8, a1);
    m.writeU64(argv + 16, 0);
    const envp = BASE + 0x300;
    m.writeU64(envp, a0);
    m.writeU64(envp + 8, 0);
    expect(formatSyscall(event(59, path, argv, envp), m)).toBe(
      `execve("/bin/ls", ["ls", "-la"], 0x${envp.toString(16)} /* 1 var */)`,
    );
  });

  it("prints unreadable pointers as hex", () => {
    const m = mem();
    expect(formatSyscall(event(257, -100, 0x10, 0), m)).toBe("openat(AT_FDCWD, 0x10, O_RDONLY)");
    expect(formatSyscall(event(1, 1, 0xdeadbeef000n, 5), m)).toBe("write(1, 0xdeadbeef000, 5)");
    expect(formatSyscall(event(1, 1, 0xffffffffffffffffn, 5), m)).toBe("write(1, 0xffffffffffffffff, 5)");
    // A string running into unmapped memory without a NUL.
    m.fill(BASE + 0x4000 - 4, 4, 0x41);
    expect(formatSyscall(event(2, BASE + 0x4000 - 4, 0), m)).toBe(
      `open(0x${(BASE + 0x4000 - 4).toString(16)}, O_RDONLY)`,
    );
  });

  it("never throws on hostile arguments and pointers (property)", () => {
    const arg = fc.oneof(
      fc.bigUint64Array({ minLength: 1, maxLength: 1 }).map((a) => a[0]!),
      fc.integer({ min: BASE - 64, max: BASE + 0x4000 + 64 }).map(BigInt),
      fc.constantFrom(0n, 0xffffffffn, -100n & 0xffffffffffffffffn, 1n << 63n),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: -5, max: 600 }),
        fc.array(arg, { minLength: 6, maxLength: 6 }),
        fc.uint8Array({ minLength: 0, maxLength: 0x4000 }),
        (nr, args, contents) => {
          const m = mem();
          m.bytes.set(contents);
          const s = formatSyscall(event(nr, ...args), m);
          expect(s.startsWith(`${syscallName(nr)}(`)).toBe(true);
          expect(s.endsWith(")")).toBe(true);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("quotes any bytes into a printable ASCII string (property)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), (b, t) => {
        const q = quoteBytes(b, t);
        expect(/^"[\x20-\x7e]*"(\.\.\.)?$/.test(q)).toBe(true);
      }),
    );
  });
});

describe("formatResult", () => {
  it("prints values, errors and addresses like strace", () => {
    expect(formatResult(257, 3)).toBe("3");
    expect(formatResult(257, -2)).toBe("-1 ENOENT (No such file or directory)");
    expect(formatResult(0, -11)).toBe("-1 EAGAIN (Resource temporarily unavailable)");
    expect(formatResult(9, 0x7f1234567000)).toBe("0x7f1234567000");
    expect(formatResult(12, 0x4c3000)).toBe("0x4c3000");
    expect(formatResult(231, 0)).toBe("?");
    expect(formatResult(7, -512)).toBe("? ERESTARTSYS (To be restarted if SA_RESTART is set)");
    expect(formatResult(39, 1234)).toBe("1234");
    expect(formatOpenFlags(0o3)).toBe("O_ACCMODE");
  });

  it("never throws (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: -10, max: 600 }), fc.double(), (nr, ret) => {
        expect(typeof formatResult(nr, ret)).toBe("string");
      }),
    );
  });
});

class FixedServer implements SyscallServer {
  onSyscall(task: TaskControl, ev: SyscallEvent, outcome: { resume: Resume }): number {
    if (ev.nr === 257) return -2;
    if (ev.nr === 1) return ev.arg(2);
    if (ev.nr === 231) {
      outcome.resume = Resume.Exit;
      return 0;
    }
    if (ev.nr === 110) task.memory.read(0, 1); // a server that lets a MemoryFault escape
    return 0;
  }
  onFault(): void {}
}

describe("Tracer and SyscallStats", () => {
  it("prints one line per call and counts them", () => {
    const m = mem();
    const lines: string[] = [];
    const stats = new SyscallStats();
    const tracer = new Tracer(new FixedServer(), (l) => lines.push(l), { stats });
    const task = { memory: m } as unknown as TaskControl;
    const out = { resume: Resume.Return as Resume };
    const p = m.putString(BASE, "/etc/passwd");
    expect(tracer.onSyscall(task, event(257, -100, p, 0o2000000), out)).toBe(-2);
    m.write(BASE + 0x100, new TextEncoder().encode("hi\n"));
    tracer.onSyscall(task, event(1, 1, BASE + 0x100, 3), out);
    expect(() => tracer.onSyscall(task, event(110), out)).toThrow();
    out.resume = Resume.Return;
    tracer.onSyscall(task, event(231, 3), out);
    tracer.finish({ exitCode: 3, signal: null });
    tracer.finish({ exitCode: null, signal: 9 });
    expect(lines).toEqual([
      'openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory)',
      'write(1, "hi\\n", 3) = 3',
      "getppid() = ? <MemoryFault>",
      "exit_group(3) = ?",
      "+++ exited with 3 +++",
      "+++ killed by SIGKILL +++",
    ]);
    const rows = stats.entries();
    expect(rows.find((r) => r.name === "openat")).toMatchObject({ calls: 1, errors: 1 });
    expect(rows.find((r) => r.name === "write")).toMatchObject({ calls: 1, errors: 0 });
    const table = stats.table();
    expect(table).toMatch(/^% time {5}seconds {2}usecs\/call {5}calls {4}errors syscall\n/);
    expect(table).toMatch(/\n100\.00 +\d+\.\d{6} +\d+ +3 +1 total\n$/);
  });

  it("filters calls (strace -e) and shows server time (strace -T)", () => {
    const lines: string[] = [];
    const stats = new SyscallStats();
    const tracer = new Tracer(new FixedServer(), (l) => lines.push(l), {
      stats,
      filter: (nr) => nr === 1,
      timing: true,
    });
    const m = mem();
    const task = { memory: m } as unknown as TaskControl;
    m.write(BASE, new TextEncoder().encode("x"));
    tracer.onSyscall(task, event(257, -100, 0, 0), { resume: Resume.Return });
    tracer.onSyscall(task, event(1, 1, BASE, 1), { resume: Resume.Return });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^write\(1, "x", 1\) = 1 <\d+\.\d{6}>$/);
    expect(stats.totalCalls).toBe(2);
  });

  it("SyscallStats.wrap counts without printing", () => {
    const stats = new SyscallStats();
    const server = stats.wrap(new FixedServer());
    const task = { memory: mem() } as unknown as TaskControl;
    for (let i = 0; i < 5; i++) server.onSyscall(task, event(257, -100, 0, 0), { resume: Resume.Return });
    expect(stats.entries()).toEqual([expect.objectContaining({ name: "openat", calls: 5, errors: 5 })]);
    expect(stats.totalCalls).toBe(5);
  });

  const cc = hasCompiler("cc");
  it.skipIf(!cc)("traces a real program on the seccomp platform", () => {
    const prog = compile(
      "traced",
      `#include <fcntl.h>
#include <unistd.h>
int main(void) {
  int fd = open("/nonexistent/file", O_RDONLY | O_CLOEXEC);
  write(1, "traced\\n", 7);
  return fd == -1 ? 0 : 1;
}
`,
    );
    const server = new CaptureServer();
    server.hook = (_t, ev) => (ev.nr === 257 ? -2 : undefined);
    const lines: string[] = [];
    const proc = SeccompPlatform.spawn({ file: prog, argv: [prog], env: [] });
    const tracer = new Tracer(server, (l) => lines.push(l), { mainPid: proc.pid });
    const exit = proc.run(tracer);
    tracer.finish(exit);
    expect(exit.exitCode).toBe(0);
    expect(lines.at(-1)).toBe("+++ exited with 0 +++");
    expect(lines.some((l) => l.startsWith("[pid"))).toBe(false);
    expect(lines).toContain(
      'openat(AT_FDCWD, "/nonexistent/file", O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory)',
    );
    expect(lines).toContain('write(1, "traced\\n", 7) = 7');
  });
});

describe.skipIf(!hasCompiler("cc"))("Tracer over a live child's memory", () => {
  it("prints hostile pointers as hex and the server's EFAULT", () => {
    const prog = compile(
      "tracebad",
      `#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
  syscall(SYS_write, 1, (void *)0x10, 5);
  syscall(SYS_openat, -100, (void *)0xdead0000, 0);
  syscall(SYS_write, 1, "ok\\n", 3);
  return 0;
}
`,
    );
    const server = new CaptureServer();
    server.hook = (_t, ev) => (ev.nr === 257 ? -14 : undefined);
    const lines: string[] = [];
    const exit = SeccompPlatform.spawn({ file: prog, argv: [prog], env: [] }).run(
      new Tracer(server, (l) => lines.push(l)),
    );
    expect(exit.exitCode).toBe(0);
    expect(lines).toContain("write(1, 0x10, 5) = -1 EFAULT (Bad address)");
    expect(lines).toContain("openat(AT_FDCWD, 0xdead0000, O_RDONLY) = -1 EFAULT (Bad address)");
    expect(lines).toContain('write(1, "ok\\n", 3) = 3');
  });
});

const busybox = ["/usr/bin/busybox", "/bin/busybox"].find((p) => existsSync(p));
describe.skipIf(!busybox)("Tracer with children", () => {
  it("prefixes the calls of other processes with [pid N] (strace -f)", () => {
    const server = new CaptureServer();
    const lines: string[] = [];
    const proc = SeccompPlatform.spawn({ file: busybox!, argv: ["sh", "-c", `${busybox} true; echo done`], env: [] });
    const tracer = new Tracer(server, (l) => lines.push(l), { mainPid: proc.pid });
    const exit = proc.run(tracer);
    expect(exit.exitCode).toBe(0);
    expect(server.stdout).toBe("done\n");
    expect(
      lines.some((l) =>
        /^\[pid \d+\] execve\("\/[^"]*busybox", \["\/[^"]*busybox", "true"\], 0x[0-9a-f]+ \/\* \d+ vars? \*\/\) = \?$/.test(
          l,
        ),
      ),
    ).toBe(true);
    expect(lines.some((l) => l.startsWith('write(1, "done\\n", 5) = 5'))).toBe(true);
  });
});
