import {
  AUDIT_ARCH_X86_64,
  DEFAULT_NATIVE_SYSCALLS,
  gatedUserNotifFilter,
  type IpRange,
  SECCOMP_NOTIF_SIZE,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_USER_NOTIF,
  SeccompSyscallEvent,
  SPAWN_GATE_SYSCALLS,
  seccompPlatformFilter,
  spawnGateRanges,
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

/** A classic-BPF interpreter for the instructions the filter uses (LD W ABS, JEQ/JGT/JGE/JSET K, JA, RET K). */
function run(prog: Uint8Array, d: Data): number {
  const buf = new DataView(new ArrayBuffer(64));
  buf.setInt32(0, d.nr, true);
  buf.setUint32(4, d.arch, true);
  buf.setBigUint64(8, d.ip, true);
  d.args.forEach((a, i) => buf.setBigUint64(16 + i * 8, a, true));
  const dv = new DataView(prog.buffer, prog.byteOffset, prog.byteLength);
  let acc = 0;
  for (let pc = 0, steps = 0; pc * 8 < prog.byteLength; pc++, steps++) {
    if (steps > 10_000) throw new Error("loop");
    const code = dv.getUint16(pc * 8, true);
    const jt = dv.getUint8(pc * 8 + 2);
    const jf = dv.getUint8(pc * 8 + 3);
    const k = dv.getUint32(pc * 8 + 4, true);
    switch (code) {
      case 0x20:
        acc = buf.getUint32(k, true);
        break;
      case 0x15:
        pc += acc === k ? jt : jf;
        break;
      case 0x25:
        pc += acc > k ? jt : jf;
        break;
      case 0x35:
        pc += acc >= k ? jt : jf;
        break;
      case 0x45:
        pc += (acc & k) !== 0 ? jt : jf;
        break;
      case 0x05:
        pc += k;
        break;
      case 0x06:
        return k;
      default:
        throw new Error(`opcode 0x${code.toString(16)}`);
    }
  }
  throw new Error("fell off the end");
}

const allowNrs = DEFAULT_NATIVE_SYSCALLS.map((n) => syscallNumber(n)!);
const gateNrs = SPAWN_GATE_SYSCALLS.map((n) => syscallNumber(n)!);

function expected(d: Data, ranges: readonly IpRange[]): number {
  if (d.arch !== AUDIT_ARCH_X86_64) return SECCOMP_RET_KILL_PROCESS;
  if (d.nr === 9) return (Number(d.args[3]! & 0xffffffffn) & 0x20) !== 0 ? SECCOMP_RET_ALLOW : SECCOMP_RET_USER_NOTIF;
  if (allowNrs.includes(d.nr)) return SECCOMP_RET_ALLOW;
  // No spawn gate: where a call comes from never matters (sys-util's spawn answers its own execve).
  void ranges;
  return SECCOMP_RET_USER_NOTIF;
}

describe("the seccomp platform's filter", () => {
  const ranges = spawnGateRanges();
  const prog = seccompPlatformFilter();

  it("finds the spawn gate in this process's libc", () => {
    expect(ranges.length).toBeGreaterThan(0);
    for (const r of ranges) expect(r.end > r.start).toBe(true);
  });

  it("allows memory calls, notifies the rest wherever they come from, kills other arches", () => {
    const inGate = ranges[0]!.start + 16n;
    const d = (nr: number, ip = 0x401000n, arch = AUDIT_ARCH_X86_64, flags = 0n): Data => ({
      nr,
      arch,
      ip,
      args: [0n, 0n, 0n, flags, 0n, 0n],
    });
    expect(run(prog, d(12))).toBe(SECCOMP_RET_ALLOW); // brk
    expect(run(prog, d(9, 0x401000n, AUDIT_ARCH_X86_64, 0x22n))).toBe(SECCOMP_RET_ALLOW); // anonymous mmap
    expect(run(prog, d(9, 0x401000n, AUDIT_ARCH_X86_64, 0x2n))).toBe(SECCOMP_RET_USER_NOTIF); // file mmap
    expect(run(prog, d(231))).toBe(SECCOMP_RET_ALLOW);
    expect(run(prog, d(1))).toBe(SECCOMP_RET_USER_NOTIF);
    expect(run(prog, d(59))).toBe(SECCOMP_RET_USER_NOTIF);
    // Not even from this process's libc (there is no spawn gate any more).
    expect(run(prog, d(59, inGate))).toBe(SECCOMP_RET_USER_NOTIF);
    expect(run(prog, d(46, inGate))).toBe(SECCOMP_RET_USER_NOTIF);
    expect(run(prog, d(110, inGate))).toBe(SECCOMP_RET_USER_NOTIF);
    const w = (count: bigint): Data => ({
      nr: 1,
      arch: AUDIT_ARCH_X86_64,
      ip: inGate,
      args: [3n, 0n, count, 0n, 0n, 0n],
    });
    expect(run(prog, w(8n))).toBe(SECCOMP_RET_USER_NOTIF);
    expect(run(prog, w(9n))).toBe(SECCOMP_RET_USER_NOTIF);
    expect(run(prog, w(8n | (1n << 32n)))).toBe(SECCOMP_RET_USER_NOTIF);
    expect(run(prog, d(59, ranges.at(-1)!.end))).toBe(SECCOMP_RET_USER_NOTIF); // one past the end
    expect(run(prog, d(59, ranges[0]!.start - 1n))).toBe(SECCOMP_RET_USER_NOTIF);
    expect(run(prog, d(1, 0n, 0x40000003))).toBe(SECCOMP_RET_KILL_PROCESS); // i386
    expect(run(prog, d(0x40000000 | 1))).toBe(SECCOMP_RET_USER_NOTIF); // x32 numbers are not allowed natively
  });

  it("matches its specification on hostile seccomp_data (property)", () => {
    const ip = fc.oneof(
      fc.bigUint64Array({ minLength: 1, maxLength: 1 }).map((a) => a[0]!),
      fc.constantFrom(...ranges.flatMap((r) => [r.start, r.end, r.start - 1n, r.end - 1n, r.start + 0x1000n])),
      fc.bigInt({ min: 0n, max: 0xffffffffn }).map((lo) => (ranges[0]!.start & ~0xffffffffn) | lo),
    );
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: -1, max: 500 }), fc.constantFrom(...allowNrs, ...gateNrs, 9), fc.integer()),
        fc.oneof(fc.constant(AUDIT_ARCH_X86_64), fc.integer({ min: 0, max: 0xffffffff })),
        ip,
        fc.array(
          fc.oneof(
            fc.bigUint64Array({ minLength: 1, maxLength: 1 }).map((a) => a[0]!),
            fc.constantFrom(8n, 0n, 8n | (1n << 32n)),
          ),
          { minLength: 6, maxLength: 6 },
        ),
        (nr, arch, ipv, args) => {
          const d = { nr, arch, ip: ipv, args };
          expect(run(prog, d)).toBe(expected(d, ranges));
        },
      ),
      { numRuns: 5000 },
    );
  });

  it("handles gate ranges that cross a 4 GiB boundary and arbitrary allow lists (property)", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: (1n << 47n) - 1n }),
        fc.bigInt({ min: 1n, max: 1n << 34n }),
        fc.bigInt({ min: -(1n << 35n), max: 1n << 35n }),
        fc.uniqueArray(fc.integer({ min: 0, max: 460 }), { maxLength: 60 }),
        fc.integer({ min: 0, max: 460 }),
        (start, len, delta, allow, nr) => {
          const r = { start, end: start + len };
          const p = gatedUserNotifFilter({ allow, gate: { nrs: [59], ranges: [r] } });
          const ipv = BigInt.asUintN(64, start + delta);
          const got = run(p, { nr, arch: AUDIT_ARCH_X86_64, ip: ipv, args: [0n, 0n, 0n, 0n, 0n, 0n] });
          const inRange = ipv >= r.start && ipv < r.end;
          const want =
            nr === 9
              ? SECCOMP_RET_USER_NOTIF
              : allow.includes(nr) || (nr === 59 && inRange)
                ? SECCOMP_RET_ALLOW
                : SECCOMP_RET_USER_NOTIF;
          expect(got).toBe(want);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("rejects bad input with typed errors", () => {
    expect(() => gatedUserNotifFilter({ allow: [-1] })).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => gatedUserNotifFilter({ allow: [], gate: { nrs: [1], ranges: [{ start: 5n, end: 5n }] } })).toThrow(
      expect.objectContaining({ code: "EINVAL" }),
    );
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
