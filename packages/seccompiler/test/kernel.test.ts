/**
 * Compiled filters against the real kernel: each filter is installed in a
 * child process (never in this test worker: a filter cannot be removed) that
 * makes raw system calls with chosen arguments.
 */

import {
  type ArgLen,
  AUDIT_ARCH_X86_64,
  BpfProgram,
  type CmpOp,
  compileFilter,
  compileJson,
  parseJson,
  SeccompCondition,
  SeccompFilter,
  SeccompInstallError,
  SeccompRule,
  spawnWithFilter,
  syscallNumber,
  toPlain,
} from "@kindling/seccompiler";
import { waitpid } from "@kindling/sys-util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { firecrackerJson } from "./helpers.js";
import { canSeccomp, hasCc, type ProbeCall, probe, runProbe } from "./kernel-helpers.js";

const SYS_getpid = 39;
const SYS_getppid = 110;
const SYS_getuid = 102;
const SYS_getgid = 104;
const SIGSYS = 31;
const M64 = (1n << 64n) - 1n;
const M32 = 0xffffffffn;
const ERRNO = 77;

/** The expected truth of `arg op val`, computed here independently of the library. */
function expected(type: ArgLen, op: CmpOp, val: bigint, arg: bigint): boolean {
  const a = type === "dword" ? arg & M32 : arg;
  if (typeof op === "object") return (a & op.masked_eq) === (val & op.masked_eq);
  return { eq: a === val, ne: a !== val, lt: a < val, le: a <= val, gt: a > val, ge: a >= val }[op];
}

function probeValues(val: bigint): bigint[] {
  const s = new Set<bigint>();
  for (const d of [0n, 1n, -1n, 2n, -2n, 1n << 32n, -(1n << 32n), (1n << 32n) + 1n, -(1n << 32n) - 1n, 1n << 31n]) {
    s.add(BigInt.asUintN(64, val + d));
  }
  for (const v of [0n, 1n, M32, M32 + 1n, M64, 1n << 63n, 0xdeadbeef00000000n | (val & M32)]) s.add(v);
  return [...s];
}

const OPS: CmpOp[] = ["eq", "ne", "lt", "le", "gt", "ge", { masked_eq: 0xff00ff0000ff00ffn }];
const VALUES: Record<ArgLen, bigint[]> = {
  dword: [5n, 0x80000001n],
  qword: [0x1_0000_0005n, 0xffffffff_fffffffen, 0x7fffffffn],
};

describe.skipIf(!hasCc || !canSeccomp)("kernel: every operator, dword and qword, with errno", () => {
  let index = 0;
  for (const type of ["dword", "qword"] as const) {
    for (const op of OPS) {
      const opName = typeof op === "object" ? "masked_eq" : op;
      it(`${type} ${opName}`, () => {
        for (const val0 of VALUES[type]) {
          const val = type === "dword" ? val0 & M32 : val0;
          const mask = typeof op === "object" ? (type === "dword" ? op.masked_eq & M32 : op.masked_eq) : undefined;
          const realOp: CmpOp = mask === undefined ? op : { masked_eq: mask };
          const argIndex = index++ % 6;
          const json = JSON.stringify({
            t: {
              mismatch_action: "allow",
              match_action: { errno: ERRNO },
              filter: [
                {
                  syscall: "getpid",
                  args: [
                    {
                      index: argIndex,
                      type,
                      op: mask === undefined ? op : { masked_eq: 0 },
                      val: 0,
                    },
                  ],
                },
              ],
            },
          })
            // 64-bit numbers do not survive JSON.stringify of a Number: write them as literals.
            .replace('"val":0', `"val":${val}`)
            .replace('"masked_eq":0', `"masked_eq":${mask ?? 0n}`);
          const { program, filter } = compileJson(json).get("t")!;
          const calls: ProbeCall[] = probeValues(val).map((v) => {
            const args = [0n, 0n, 0n, 0n, 0n, 0n];
            args[argIndex] = v;
            // The other arguments carry noise: they must not matter.
            args[(argIndex + 1) % 6] = 0xabcdef0123456789n;
            return { nr: SYS_getpid, args };
          });
          const run = runProbe(program, calls);
          expect(run.exitCode).toBe(0);
          expect(run.results).toHaveLength(calls.length);
          const bpf = new BpfProgram(program);
          calls.forEach((c, i) => {
            const want = expected(type, realOp, val, c.args[argIndex]!);
            const got = run.results[i]!;
            const label = `${type} arg${argIndex} ${opName} ${val} on ${c.args[argIndex]}`;
            if (want) expect(got, label).toEqual({ ret: -1, errno: ERRNO });
            else {
              expect(got.errno, label).toBe(0);
              expect(got.ret, label).toBeGreaterThan(0);
            }
            // The interpreter and the direct evaluation say the same.
            const r = bpf.run({ nr: c.nr, arch: AUDIT_ARCH_X86_64, args: c.args });
            expect(r.action, label).toEqual(want ? { errno: ERRNO } : "allow");
            expect(filter.evaluate({ nr: c.nr, args: c.args }).ret).toBe(r.ret);
          });
        }
      });
    }
  }

  it("AND within a rule, OR across rules, several errno values", () => {
    const f = new SeccompFilter({
      rules: [
        [
          "getpid",
          [
            new SeccompRule([new SeccompCondition(0, "qword", "ge", 10n), new SeccompCondition(0, "qword", "le", 20n)]),
            new SeccompRule([new SeccompCondition(1, "dword", "eq", 7n)]),
          ],
        ],
      ],
      mismatchAction: "allow",
      matchAction: { errno: 13 },
    });
    const cases: Array<[bigint[], boolean]> = [
      [[9n, 0n], false],
      [[10n, 0n], true],
      [[20n, 0n], true],
      [[21n, 0n], false],
      [[21n, 7n], true],
      [[0n, 0x1_0000_0007n], true],
      [[0n, 8n], false],
    ];
    const run = runProbe(
      compileFilter(f),
      cases.map(([args]) => ({ nr: SYS_getpid, args })),
    );
    cases.forEach(([args, m], i) => {
      expect(run.results[i]!.errno, String(args)).toBe(m ? 13 : 0);
    });
  });

  it("trap, kill_process and kill_thread end the child with SIGSYS; log allows", () => {
    for (const action of ["trap", "kill_process", "kill_thread"] as const) {
      const f = new SeccompFilter({ rules: [["getpid", []]], mismatchAction: "allow", matchAction: action });
      const run = runProbe(compileFilter(f), [{ nr: SYS_getpid, args: [] }]);
      expect(run.signal, action).toBe(SIGSYS);
      expect(run.results).toEqual([]);
    }
    const f = new SeccompFilter({ rules: [["getpid", []]], mismatchAction: "allow", matchAction: "log" });
    const run = runProbe(compileFilter(f), [{ nr: SYS_getpid, args: [] }]);
    expect(run.exitCode).toBe(0);
    expect(run.results[0]!.ret).toBeGreaterThan(0);
  });

  it("the architecture check comes first: the x32 ABI of a named syscall is killed", () => {
    const f = new SeccompFilter({ rules: [["getpid", []]], mismatchAction: "allow", matchAction: { errno: 1 } });
    const run = runProbe(compileFilter(f), [{ nr: 0x40000000 | SYS_getpid, args: [] }]);
    expect(run.signal).toBe(SIGSYS);
  });

  it("Firecracker's vcpu filter allows what it lists and traps the rest, in a real process", () => {
    // A filter of our own in Firecracker's shape, with the probe's own syscalls listed.
    const json = `{"main": {"default_action": "trap", "filter_action": "allow", "filter": [
      {"syscall": "execve"}, {"syscall": "write"}, {"syscall": "exit_group"}, {"syscall": "exit"},
      {"syscall": "arch_prctl"}, {"syscall": "set_tid_address"}, {"syscall": "brk"}, {"syscall": "mmap"},
      {"syscall": "munmap"}, {"syscall": "mprotect"}, {"syscall": "rt_sigprocmask"}, {"syscall": "ioctl"},
      {"syscall": "getppid", "args": [{"index": 0, "type": "qword", "op": "eq", "val": 18446744073709551615}]}
    ]}}`;
    const { program } = compileJson(json).get("main")!;
    const ok = runProbe(program, [{ nr: SYS_getppid, args: [M64] }]);
    expect(ok.exitCode).toBe(0);
    expect(ok.results[0]!.ret).toBe(process.pid);
    const trapped = runProbe(program, [{ nr: SYS_getppid, args: [M64 - 1n] }]);
    expect(trapped.signal).toBe(SIGSYS);
  });

  it("an invalid program is refused before the child runs, with a typed error", () => {
    const bad = new Uint8Array(8); // ld [0] without a ret
    expect(() => spawnWithFilter({ file: probe(), argv: ["probe"], program: bad })).toThrowError(
      expect.objectContaining({ code: "INVALID_PROGRAM" }),
    );
    expect(SeccompInstallError).toBeDefined();
  });
});

describe.skipIf(!hasCc || !canSeccomp)("kernel: random filters agree with the interpreter (a sample)", () => {
  const SYSCALLS = [
    ["getpid", SYS_getpid],
    ["getppid", SYS_getppid],
    ["getuid", SYS_getuid],
    ["getgid", SYS_getgid],
  ] as const;
  const value = fc.oneof(
    fc.bigInt({ min: 0n, max: M64 }),
    fc.constantFrom(0n, 1n, M32, M32 + 1n, M64, 1n << 63n),
    fc.bigInt({ min: 0n, max: 16n }),
  );
  const cond = fc
    .record({
      index: fc.integer({ min: 0, max: 5 }),
      type: fc.constantFrom<ArgLen>("dword", "qword"),
      op: fc.oneof(
        fc.constantFrom<CmpOp>("eq", "ne", "lt", "le", "gt", "ge"),
        value.map((m): CmpOp => ({ masked_eq: m })),
      ),
      val: value,
    })
    .map(({ index, type, op, val }) => {
      const v = type === "dword" ? val & M32 : val;
      const o = typeof op === "object" && type === "dword" ? { masked_eq: op.masked_eq & M32 } : op;
      return new SeccompCondition(index, type, o, v);
    });
  const rule = fc.array(cond, { minLength: 1, maxLength: 3 }).map((c) => new SeccompRule(c));
  const filter = fc
    .uniqueArray(fc.constantFrom(...SYSCALLS), { minLength: 1, maxLength: 4, selector: (s) => s[0] })
    .chain((names) =>
      fc.tuple(fc.tuple(...names.map(() => fc.array(rule, { maxLength: 3 }))), fc.integer({ min: 1, max: 4095 })).map(
        ([rules, errno]) =>
          new SeccompFilter({
            rules: names.map(([n], i) => [n, rules[i]!] as const),
            mismatchAction: "allow",
            matchAction: { errno },
          }),
      ),
    );
  const call = fc.record({
    nr: fc.constantFrom(...SYSCALLS.map((s) => s[1])),
    args: fc.array(value, { minLength: 6, maxLength: 6 }),
  });

  it("kernel == interpreter == direct evaluation", () => {
    fc.assert(
      fc.property(filter, fc.array(call, { minLength: 1, maxLength: 12 }), (f, calls) => {
        const program = compileFilter(f);
        const bpf = new BpfProgram(program);
        const run = runProbe(program, calls);
        expect(run.exitCode).toBe(0);
        calls.forEach((c, i) => {
          const r = bpf.run({ nr: c.nr, arch: AUDIT_ARCH_X86_64, args: c.args });
          expect(f.evaluate({ nr: c.nr, args: c.args }).ret).toBe(r.ret);
          const k = run.results[i]!;
          if (typeof r.action === "object" && "errno" in r.action)
            expect(k).toEqual({ ret: -1, errno: r.action.errno });
          else {
            expect(r.action).toBe("allow");
            expect(k.errno).toBe(0);
          }
        });
      }),
      { numRuns: 25 },
    );
  });
});

describe.skipIf(!hasCc || !canSeccomp)("kernel: SECCOMP_RET_USER_NOTIF filter", () => {
  // linux/seccomp.h: _IOWR('!', 0, struct seccomp_notif [80 bytes]), _IOWR('!', 1, struct seccomp_notif_resp [24 bytes])
  const SECCOMP_IOCTL_NOTIF_RECV = 0xc0502100;
  const SECCOMP_IOCTL_NOTIF_SEND = 0xc0182101;

  it("allow-listed syscalls run; any other one is notified and answered by the supervisor", async () => {
    const { userNotifFilter } = await import("@kindling/seccompiler");
    const { SECCOMP_FILTER_FLAG_NEW_LISTENER, close, ioctl } = await import("@kindling/sys-util");
    const { closeSync, mkdtempSync, openSync, readFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    // What the probe needs to start and report, plus sendmsg and close: sys-util's spawn
    // passes the listener fd to the parent with them after the filter is installed.
    const allow = [
      "execve",
      "write",
      "exit_group",
      "arch_prctl",
      "set_tid_address",
      "brk",
      "mmap",
      "munmap",
      "mprotect",
      "rt_sigprocmask",
      "ioctl",
      "sendmsg",
      "close",
      "getpid",
    ];
    const program = userNotifFilter({ allow });
    const outPath = join(mkdtempSync(join(tmpdir(), "seccompiler-notif-")), "out");
    const fd = openSync(outPath, "w");
    const p = spawnWithFilter({
      file: probe(),
      argv: ["probe", `${SYS_getpid}`, `${SYS_getppid},7,8`],
      env: [],
      program,
      seccompFlags: SECCOMP_FILTER_FLAG_NEW_LISTENER,
      fds: [0, fd, 2],
    });
    closeSync(fd);
    expect(p.listenerFd).toBeGreaterThanOrEqual(0);
    // getppid is not allowed: it arrives here. Receive it and answer 4242.
    const notif = new Uint8Array(80);
    ioctl(p.listenerFd, SECCOMP_IOCTL_NOTIF_RECV, notif);
    const dv = new DataView(notif.buffer);
    const id = dv.getBigUint64(0, true);
    expect(dv.getUint32(8, true)).toBe(p.pid);
    expect(dv.getInt32(16, true)).toBe(SYS_getppid); // data.nr
    expect(dv.getUint32(20, true)).toBe(AUDIT_ARCH_X86_64); // data.arch
    expect(dv.getBigUint64(32, true)).toBe(7n); // data.args[0]
    expect(dv.getBigUint64(40, true)).toBe(8n);
    const resp = new Uint8Array(24);
    const rv = new DataView(resp.buffer);
    rv.setBigUint64(0, id, true);
    rv.setBigInt64(8, 4242n, true);
    ioctl(p.listenerFd, SECCOMP_IOCTL_NOTIF_SEND, resp);
    const w = waitpid(p.pid);
    close(p.listenerFd);
    expect(w.exitCode).toBe(0);
    const lines = readFileSync(outPath, "utf8").trim().split("\n");
    expect(Number(lines[0]!.split(" ")[0])).toBe(p.pid); // getpid ran in the kernel
    expect(lines[1]).toBe("4242 0"); // getppid was answered by us
  });
});

describe.skipIf(!hasCc || !canSeccomp || firecrackerJson === undefined)("kernel: Firecracker's real filter", () => {
  // Calls that are harmless with every unconstrained argument set to -1 (bad fd, bad pointer,
  // bad length): the kernel refuses them with an errno once the filter has let them through.
  const UNSAFE = new Set(["exit", "exit_group", "rt_sigreturn", "restart_syscall"]);
  const plain = toPlain(parseJson(firecrackerJson ?? "{}")) as Record<
    string,
    { filter: Array<{ syscall: string; args?: Array<{ index: bigint; op: string | object; val: bigint }> }> }
  >;

  for (const name of ["vmm", "api", "vcpu"]) {
    it(`${name}: every rule of the file, with arguments that satisfy it, gets through the kernel`, () => {
      const { program } = compileJson(firecrackerJson!).get(name)!;
      const calls: ProbeCall[] = [];
      for (const r of plain[name]!.filter) {
        if (UNSAFE.has(r.syscall)) continue;
        const args = [M64, M64, M64, M64, M64, M64];
        for (const c of r.args ?? []) {
          const op = typeof c.op === "string" ? c.op : "masked_eq";
          args[Number(c.index)] = op === "gt" || op === "ne" ? c.val + 1n : op === "lt" ? c.val - 1n : c.val;
        }
        calls.push({ nr: syscallNumber(r.syscall, "x86_64")!, args });
      }
      expect(calls.length).toBeGreaterThan(20);
      const run = runProbe(program, calls, true);
      expect(run.signal, "a call was trapped").toBe(null);
      expect(run.exitCode).toBe(0);
      expect(run.results).toHaveLength(calls.length);
      const bpf = new BpfProgram(program);
      for (const c of calls) expect(bpf.run({ nr: c.nr, arch: AUDIT_ARCH_X86_64, args: c.args }).action).toBe("allow");
    });

    it(`${name}: an unlisted syscall and an unlisted ioctl are trapped (SIGSYS)`, () => {
      const { program } = compileJson(firecrackerJson!).get(name)!;
      for (const call of [
        { nr: SYS_getppid, args: [] },
        { nr: 16 /* ioctl */, args: [M64, 0xdeadbeefn] },
      ]) {
        expect(new BpfProgram(program).run({ nr: call.nr, arch: AUDIT_ARCH_X86_64, args: call.args }).action).toBe(
          "trap",
        );
        const run = runProbe(program, [call], true);
        expect(run.signal).toBe(SIGSYS);
      }
    });
  }
});
