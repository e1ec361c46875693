import { SYSCALL_NAMES, type SyscallName } from "@kindling/libos";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MEM_BASE, MEM_SIZE, SCRATCH, setup } from "./core-setup.js";

const MEM_END = MEM_BASE + MEM_SIZE;

/** Addresses no valid pointer has: below, above, straddling the end, beyond 2^47, beyond 2^53. */
const badPointer = fc.oneof(
  fc.integer({ min: 1, max: MEM_BASE - 1 }).map(BigInt),
  fc.integer({ min: MEM_END, max: 2 ** 47 }).map(BigInt),
  fc.integer({ min: MEM_END - 3, max: MEM_END - 1 }).map(BigInt),
  fc.bigInt({ min: 2n ** 47n, max: 2n ** 64n - 1n }),
  fc.constantFrom(2n ** 64n - 1n, 2n ** 63n, 2n ** 53n + 1n, 0xffff_8000_0000_0000n),
);

/** Any 64-bit argument, biased to edges and to valid-looking pointers. */
const anyArg = fc.oneof(
  fc.constantFrom(0n, 1n, 8n, 24n, 4096n, 2n ** 31n - 1n, 2n ** 32n - 1n, 2n ** 63n, 2n ** 64n - 1n),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  fc.integer({ min: -200, max: 200 }).map((n) => BigInt.asUintN(64, BigInt(n))),
  fc.integer({ min: MEM_BASE, max: MEM_END }).map(BigInt),
  badPointer,
);

/** The syscalls the core serves. */
function coreSyscalls(): number[] {
  const { k } = setup();
  const enosys = k.table[1000 % k.table.length];
  const out: number[] = [];
  for (let nr = 0; nr < k.table.length; nr++) if (k.table[nr] !== enosys || nr === 0) out.push(nr);
  return out.filter((nr) => SYSCALL_NAMES[nr] !== "");
}

describe("hostile arguments (property)", () => {
  const served = coreSyscalls();

  it("the core serves the issue's syscall list", () => {
    const names = served.map((nr) => SYSCALL_NAMES[nr]);
    for (const n of [
      "exit",
      "exit_group",
      "getpid",
      "gettid",
      "getppid",
      "getuid",
      "uname",
      "set_tid_address",
      "set_robust_list",
      "arch_prctl",
      "prlimit64",
      "getrandom",
      "sched_yield",
      "sched_getaffinity",
      "umask",
      "getrusage",
      "sysinfo",
      "brk",
      "mmap",
      "munmap",
      "mprotect",
      "madvise",
      "mremap",
      "clock_gettime",
      "clock_getres",
      "gettimeofday",
      "time",
      "nanosleep",
      "clock_nanosleep",
      "rt_sigaction",
      "rt_sigprocmask",
      "sigaltstack",
      "rt_sigreturn",
      "kill",
      "tgkill",
      "futex",
    ]) {
      expect(names).toContain(n);
    }
  });

  it("every core syscall answers any arguments with a result or -errno, never a host exception", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...served),
        fc.array(anyArg, { minLength: 6, maxLength: 6 }),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        (nr, args, rsp) => {
          const s = setup();
          s.h.task.regs.rsp = rsp;
          const r = s.h.call(nr, ...args);
          expect(Number.isSafeInteger(r)).toBe(true);
          if (r < 0) expect(r).toBeGreaterThanOrEqual(-4095);
          // A second call after anything (even exit) must not throw either.
          const r2 = s.h.call(nr, ...args);
          expect(Number.isSafeInteger(r2)).toBe(true);
        },
      ),
      { numRuns: 2000 },
    );
  }, 180_000);

  /** [syscall, args with "P" where the bad pointer goes] that must answer -EFAULT. */
  const pointerCases: [SyscallName, (bigint | "P")[]][] = [
    ["uname", ["P"]],
    ["clock_gettime", [0n, "P"]],
    ["clock_getres", [1n, "P"]],
    ["gettimeofday", ["P", 0n]],
    ["gettimeofday", [BigInt(SCRATCH), "P"]],
    ["time", ["P"]],
    ["nanosleep", ["P", 0n]],
    ["clock_nanosleep", [1n, 0n, "P", 0n]],
    ["getresuid", ["P", BigInt(SCRATCH), BigInt(SCRATCH)]],
    ["getresgid", [BigInt(SCRATCH), BigInt(SCRATCH), "P"]],
    ["sysinfo", ["P"]],
    ["getrusage", [0n, "P"]],
    ["prlimit64", [0n, 7n, "P", 0n]],
    ["prlimit64", [0n, 7n, 0n, "P"]],
    ["getrlimit", [3n, "P"]],
    ["getrandom", ["P", 16n, 0n]],
    ["sched_getaffinity", [0n, 8n, "P"]],
    ["arch_prctl", [0x1003n, "P"]],
    ["arch_prctl", [0x1004n, "P"]],
    ["rt_sigaction", [10n, "P", 0n, 8n]],
    ["rt_sigaction", [10n, 0n, "P", 8n]],
    ["rt_sigprocmask", [0n, "P", 0n, 8n]],
    ["rt_sigprocmask", [0n, 0n, "P", 8n]],
    ["rt_sigpending", ["P", 8n]],
    ["sigaltstack", ["P", 0n]],
    ["sigaltstack", [0n, "P"]],
    ["getgroups", [8n, "P"]],
    ["get_robust_list", [0n, "P", BigInt(SCRATCH)]],
    ["mincore", [0x200000n, 16n * 4096n, "P"]],
  ];

  it("a bad pointer is always -EFAULT", () => {
    fc.assert(
      fc.property(fc.constantFrom(...pointerCases), badPointer, ([name, template], p) => {
        const s = setup();
        if (name === "mincore") s.h.call("mmap", 0x200000, 16 * 4096, 3, 0x32, -1, 0);
        const args = template.map((a) => (a === "P" ? p : a));
        expect(s.h.call(name, ...args)).toBe(-14);
        expect(s.k.exited).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it("futex on a bad aligned address is -EFAULT; misaligned is -EINVAL", () => {
    fc.assert(
      fc.property(badPointer, fc.constantFrom(0, 1, 9, 10, 4, 128), (p, op) => {
        const s = setup();
        const r = s.h.call("futex", p, op, 0, 0, BigInt(SCRATCH), 1);
        expect(r).toBe(p % 4n === 0n ? -14 : -22);
      }),
    );
  });

  it("hostile mmap/munmap/mremap/mprotect/madvise lengths and addresses are EINVAL/ENOMEM/EFAULT/EEXIST, and the map stays consistent", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.constantFrom("mmap", "munmap", "mremap", "mprotect", "madvise", "brk", "msync", "mlock"),
            fc.array(anyArg, { minLength: 5, maxLength: 5 }),
          ),
          { maxLength: 12 },
        ),
        (calls) => {
          const s = setup();
          for (const [name, args] of calls) {
            const r = s.h.call(name as SyscallName, ...args);
            expect(Number.isSafeInteger(r)).toBe(true);
            if (r < 0) expect([-9, -12, -14, -17, -22, -75, -95, -1]).toContain(r);
            const maps = s.k.mm.mappings();
            let sum = 0;
            for (let i = 0; i < maps.length; i++) {
              sum += maps[i].end - maps[i].start;
              if (i > 0) expect(maps[i - 1].end).toBeLessThanOrEqual(maps[i].start);
              expect(maps[i].start).toBeGreaterThanOrEqual(s.k.mm.base);
              expect(maps[i].end).toBeLessThanOrEqual(s.k.mm.end);
            }
            expect(s.k.mm.used).toBe(sum);
            expect(s.k.mm.used).toBeLessThanOrEqual(s.k.mm.limit);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
