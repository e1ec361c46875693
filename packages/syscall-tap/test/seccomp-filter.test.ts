import { runBpf } from "@kindling/seccompiler";
import {
  AUDIT_ARCH_X86_64,
  DEFAULT_NATIVE_SYSCALLS,
  notifyFilter,
  SECCOMP_NOTIF_SIZE,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_USER_NOTIF,
  SeccompSyscallEvent,
  seccompPlatformFilter,
  syscallNumber,
} from "@kindling/syscall-tap";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

interface Data {
  nr: number;
  arch: number;
  ip: bigint;
  args: bigint[];
}

/** Runs the filter in seccompiler's BPF interpreter (which first checks it as the kernel does). */
function run(prog: Uint8Array, d: Data): number {
  return runBpf(prog, { nr: d.nr, arch: d.arch, instructionPointer: d.ip, args: d.args }).ret;
}

const allowNrs = DEFAULT_NATIVE_SYSCALLS.map((n) => syscallNumber(n)!);
const SYS = { mmap: 9, madvise: 28, clone: 56, exit: 60, futex: 202, clone3: 435, exit_group: 231 };

// The specification, written out independently of the platform's lists.
/** futex commands without host reach (WAIT, WAKE, REQUEUE, CMP_REQUEUE, WAKE_OP, WAIT_BITSET, WAKE_BITSET). */
const SAFE_FUTEX = new Set([0, 1, 3, 4, 5, 9, 10]);
/** madvise advice on the program's own pages (not KSM 12/13, HWPOISON 100, SOFT_OFFLINE 101). */
const SAFE_ADVICE = new Set([0, 1, 2, 3, 4, 8, 9, 10, 11, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);
const lo = (v: bigint) => Number(v & 0xffffffffn);

function expected(d: Data): number {
  if (d.arch !== AUDIT_ARCH_X86_64) return (SECCOMP_RET_ERRNO | 38) >>> 0; // ENOSYS
  const native = (ok: boolean) => (ok ? SECCOMP_RET_ALLOW : SECCOMP_RET_USER_NOTIF);
  switch (d.nr) {
    case SYS.futex:
      return native(SAFE_FUTEX.has(lo(d.args[1]!) & ~0x180));
    case SYS.madvise:
      return native(SAFE_ADVICE.has(lo(d.args[2]!)));
    case SYS.mmap:
      return native((lo(d.args[3]!) & 0x40020) === 0x20); // MAP_ANONYMOUS, not MAP_HUGETLB
    case SYS.exit:
    case SYS.clone:
    case SYS.clone3:
      return SECCOMP_RET_USER_NOTIF; // counted and decided by the server
  }
  return native(allowNrs.includes(d.nr)); // where a call comes from never matters
}

const d = (nr: number, args: bigint[] = [], arch = AUDIT_ARCH_X86_64, ip = 0x401000n): Data => ({
  nr,
  arch,
  ip,
  args: [...args, 0n, 0n, 0n, 0n, 0n, 0n].slice(0, 6),
});

describe("the seccomp platform's filter", () => {
  const prog = seccompPlatformFilter();

  it("allows memory calls, notifies the rest wherever they come from, ENOSYS for other arches", () => {
    expect(run(prog, d(12))).toBe(SECCOMP_RET_ALLOW); // brk
    expect(run(prog, d(SYS.mmap, [0n, 4096n, 3n, 0x22n]))).toBe(SECCOMP_RET_ALLOW); // anonymous mmap
    expect(run(prog, d(SYS.mmap, [0n, 4096n, 3n, 0x2n]))).toBe(SECCOMP_RET_USER_NOTIF); // file mmap
    expect(run(prog, d(SYS.mmap, [0n, 4096n, 3n, 0x40022n]))).toBe(SECCOMP_RET_USER_NOTIF); // MAP_HUGETLB
    expect(run(prog, d(SYS.exit_group))).toBe(SECCOMP_RET_ALLOW);
    expect(run(prog, d(SYS.exit))).toBe(SECCOMP_RET_USER_NOTIF); // a thread's exit is counted
    expect(run(prog, d(SYS.clone3))).toBe(SECCOMP_RET_USER_NOTIF);
    expect(run(prog, d(1))).toBe(SECCOMP_RET_USER_NOTIF);
    expect(run(prog, d(59))).toBe(SECCOMP_RET_USER_NOTIF);
    expect(run(prog, d(1, [], 0x40000003))).toBe((SECCOMP_RET_ERRNO | 38) >>> 0); // i386 (int 0x80): ENOSYS
    expect(run(prog, d(0x40000000 | 1))).toBe(SECCOMP_RET_USER_NOTIF); // x32 numbers are not allowed natively
  });

  it("runs only the futex ops without host reach natively", () => {
    const futex = (op: bigint) => run(prog, d(SYS.futex, [0x1000n, op]));
    for (const op of [0n, 1n, 3n, 4n, 5n, 9n, 10n]) {
      expect(futex(op)).toBe(SECCOMP_RET_ALLOW);
      expect(futex(op | 128n)).toBe(SECCOMP_RET_ALLOW); // FUTEX_PRIVATE_FLAG
      expect(futex(op | 256n | 128n)).toBe(SECCOMP_RET_ALLOW); // FUTEX_CLOCK_REALTIME
      expect(futex(op | (1n << 32n))).toBe(SECCOMP_RET_ALLOW); // the kernel takes an int
    }
    for (const pi of [6n, 7n, 8n, 11n, 12n, 13n]) {
      expect(futex(pi)).toBe(SECCOMP_RET_USER_NOTIF);
      expect(futex(pi | 128n)).toBe(SECCOMP_RET_USER_NOTIF);
    }
    expect(futex(2n)).toBe(SECCOMP_RET_USER_NOTIF); // FUTEX_FD (gone)
    expect(futex(0x1000n)).toBe(SECCOMP_RET_USER_NOTIF); // unknown bits
  });

  it("runs only madvise advice on the program's own pages natively", () => {
    const madvise = (advice: bigint) => run(prog, d(SYS.madvise, [0x10000n, 4096n, advice]));
    expect(madvise(4n)).toBe(SECCOMP_RET_ALLOW); // MADV_DONTNEED
    expect(madvise(100n)).toBe(SECCOMP_RET_USER_NOTIF); // MADV_HWPOISON
    expect(madvise(101n)).toBe(SECCOMP_RET_USER_NOTIF); // MADV_SOFT_OFFLINE
    expect(madvise(12n)).toBe(SECCOMP_RET_USER_NOTIF); // MADV_MERGEABLE
    expect(madvise(100n | (1n << 32n))).toBe(SECCOMP_RET_USER_NOTIF);
    expect(madvise(4n | (1n << 32n))).toBe(SECCOMP_RET_ALLOW); // the kernel takes an int
  });

  it("matches its specification on hostile seccomp_data (property)", () => {
    const u64 = fc.bigUint64Array({ minLength: 1, maxLength: 1 }).map((a) => a[0]!);
    const small = fc.integer({ min: 0, max: 0x1ff }).map(BigInt);
    const withHigh = fc
      .tuple(fc.integer({ min: 0, max: 0x1ff }), fc.integer({ min: 0, max: 0xffffffff }))
      .map(([l, h]) => (BigInt(h) << 32n) | BigInt(l));
    const flags = fc.integer({ min: 0, max: 0xfffff }).map(BigInt);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ min: -1, max: 500 }),
          fc.constantFrom(...allowNrs, ...Object.values(SYS)),
          fc.integer(),
          fc.integer({ min: 0x40000000, max: 0x400001ff }),
        ),
        fc.oneof(fc.constant(AUDIT_ARCH_X86_64), fc.integer({ min: 0, max: 0xffffffff })),
        u64,
        fc.array(fc.oneof(u64, small, withHigh, flags), { minLength: 6, maxLength: 6 }),
        (nr, arch, ip, args) => {
          const data = { nr, arch, ip, args };
          expect(run(prog, data)).toBe(expected(data));
        },
      ),
      { numRuns: 20000 },
    );
  });

  it("takes arbitrary allow lists and conditions (property)", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 460 }), { maxLength: 60 }),
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 0, max: 460 }),
        fc.bigUint64Array({ minLength: 6, maxLength: 6 }),
        (allow, arg, mask, values, nr, args) => {
          const condNr = allow[0] ?? 0;
          const p = notifyFilter({ allow, conditions: [{ nr: condNr, arg, mask, values }] });
          const got = run(p, d(nr, [...args]));
          const a = lo(args[arg]!);
          const ok = allow.includes(nr) && (nr !== condNr || values.some((v) => (v & mask) >>> 0 === (a & mask) >>> 0));
          expect(got).toBe(ok ? SECCOMP_RET_ALLOW : SECCOMP_RET_USER_NOTIF);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("rejects bad input with typed errors", () => {
    expect(() => notifyFilter({ allow: [-1] })).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => notifyFilter({ allow: [1], conditions: [{ nr: 1, arg: 6, mask: 1, values: [1] }] })).toThrow(
      expect.objectContaining({ code: "EINVAL" }),
    );
    expect(() => notifyFilter({ allow: [1], conditions: [{ nr: 1, arg: 0, mask: 1, values: [] }] })).toThrow(
      expect.objectContaining({ code: "EINVAL" }),
    );
    expect(() =>
      notifyFilter({
        allow: [1],
        conditions: [
          { nr: 1, arg: 0, mask: 1, values: [1] },
          { nr: 1, arg: 1, mask: 1, values: [1] },
        ],
      }),
    ).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => seccompPlatformFilter(["no_such_call"])).toThrow(expect.objectContaining({ code: "EINVAL" }));
  });
});

describe("SeccompSyscallEvent", () => {
  it("decodes seccomp_notif in place: arg, argI32, argU64, pid, ip, id (property)", () => {
    fc.assert(
      fc.property(
        fc.bigUint64Array({ minLength: 6, maxLength: 6 }),
        fc.bigUint64Array({ minLength: 2, maxLength: 2 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        (args, idIp, pid, nr) => {
          const buf = new DataView(new ArrayBuffer(SECCOMP_NOTIF_SIZE));
          buf.setBigUint64(0, idIp[0]!, true);
          buf.setUint32(8, pid, true);
          buf.setInt32(16, nr, true);
          buf.setUint32(20, AUDIT_ARCH_X86_64, true);
          buf.setBigUint64(24, idIp[1]!, true);
          args.forEach((a, i) => buf.setBigUint64(32 + i * 8, a, true));
          const ev = new SeccompSyscallEvent(buf);
          expect(ev.id).toBe(idIp[0]);
          expect(ev.pid).toBe(pid);
          expect(ev.instructionPointer).toBe(idIp[1]);
          for (let i = 0; i < 6; i++) {
            const a = args[i]!;
            expect(ev.argU64(i)).toBe(a);
            expect(ev.argI32(i)).toBe(Number(BigInt.asIntN(32, a)));
            if (a < 2n ** 53n) expect(ev.arg(i)).toBe(Number(a));
            else expect(Math.abs(ev.arg(i) - Number(a)) / Number(a)).toBeLessThan(1e-15);
          }
        },
      ),
    );
  });
});
