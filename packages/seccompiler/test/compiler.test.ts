import {
  AUDIT_ARCH_AARCH64,
  AUDIT_ARCH_X86_64,
  BPF_A,
  BPF_ABS,
  BPF_ADD,
  BPF_ALU,
  BPF_DIV,
  BPF_JA,
  BPF_JMP,
  BPF_JSET,
  BPF_K,
  BPF_LD,
  BPF_LDX,
  BPF_MEM,
  BPF_MISC,
  BPF_RET,
  BPF_ST,
  BPF_TXA,
  BPF_W,
  BPF_X,
  BpfProgram,
  BpfProgramError,
  type CmpOp,
  compileFilter,
  compileInstructions,
  decodeProgram,
  disassemble,
  encodeProgram,
  jump,
  type SeccompAction,
  SeccompCondition,
  SeccompFilter,
  SeccompRule,
  stmt,
  syscallTable,
  userNotifFilter,
} from "@kindling/seccompiler";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

const M64 = (1n << 64n) - 1n;
const M32 = 0xffffffffn;

const value = fc.oneof(
  fc.bigInt({ min: 0n, max: M64 }),
  fc.constantFrom(0n, 1n, M32, M32 + 1n, M64, M64 - 1n, 1n << 63n, 1n << 31n),
  fc.bigInt({ min: 0n, max: 8n }),
);
const condition = fc
  .record({
    index: fc.integer({ min: 0, max: 5 }),
    type: fc.constantFrom("dword" as const, "qword" as const),
    op: fc.oneof(
      fc.constantFrom<CmpOp>("eq", "ne", "lt", "le", "gt", "ge"),
      value.map((m): CmpOp => ({ masked_eq: m })),
    ),
    val: value,
  })
  .map(({ index, type, op, val }) => {
    const dword = type === "dword";
    const o = typeof op === "object" && dword ? { masked_eq: op.masked_eq & M32 } : op;
    return new SeccompCondition(index, type, o, dword ? val & M32 : val);
  });
const rule = fc.oneof(
  fc.array(condition, { minLength: 1, maxLength: 4 }).map((c) => new SeccompRule(c)),
  // one-condition dword eq rules, often several on one argument: the value-search path
  fc
    .record({ index: fc.integer({ min: 0, max: 1 }), val: fc.bigInt({ min: 0n, max: 12n }) })
    .map(({ index, val }) => new SeccompRule([new SeccompCondition(index, "dword", "eq", val)])),
);
const action: fc.Arbitrary<SeccompAction> = fc.oneof(
  fc.constantFrom<SeccompAction>("allow", "kill_thread", "kill_process", "log", "trap", "user_notif"),
  fc.integer({ min: 0, max: 0xffff }).map((errno) => ({ errno })),
  fc.integer({ min: 0, max: 0xffff }).map((trace) => ({ trace })),
);
const arch = fc.constantFrom("x86_64" as const, "aarch64" as const);
const filterArb = arch.chain((a) => {
  const numbers = syscallTable(a).map(([, nr]) => nr);
  return fc
    .record({
      syscalls: fc.uniqueArray(fc.constantFrom(...numbers), { maxLength: 60 }),
      match: action,
      mismatch: action,
    })
    .filter(({ match, mismatch }) => JSON.stringify(match) !== JSON.stringify(mismatch))
    .chain(({ syscalls, match, mismatch }) =>
      fc.tuple(...syscalls.map(() => fc.array(rule, { maxLength: 10 }))).map(
        (rules) =>
          new SeccompFilter({
            rules: syscalls.map((nr, i) => [nr, rules[i]!] as const),
            matchAction: match,
            mismatchAction: mismatch,
            arch: a,
          }),
      ),
    );
});
const dataFor = (f: SeccompFilter) =>
  fc.record({
    nr: fc.oneof(
      fc.constantFrom(...(f.syscalls.size > 0 ? [...f.syscalls.keys()] : [0])),
      fc.integer({ min: 0, max: 600 }),
      fc.constantFrom(0x40000000, 0x40000000 + 39, 0xffffffff, 0x7fffffff),
      fc.nat().map((n) => n >>> 0),
    ),
    arch: fc.oneof(
      { weight: 8, arbitrary: fc.constant(f.arch === "x86_64" ? AUDIT_ARCH_X86_64 : AUDIT_ARCH_AARCH64) },
      { weight: 1, arbitrary: fc.constantFrom(AUDIT_ARCH_X86_64, AUDIT_ARCH_AARCH64, 0x40000003, 0) },
    ),
    args: fc.array(value, { minLength: 6, maxLength: 6 }),
    instructionPointer: value,
  });

describe("compiled programs agree with direct evaluation", () => {
  it("property: interpreter(tree) == interpreter(linear) == evaluate, for random filters and data", () => {
    fc.assert(
      fc.property(
        filterArb.chain((f) => fc.tuple(fc.constant(f), fc.array(dataFor(f), { minLength: 1, maxLength: 30 }))),
        ([f, data]) => {
          const tree = new BpfProgram(compileFilter(f));
          const linear = new BpfProgram(compileFilter(f, { strategy: "linear" }));
          const both = new BpfProgram(compileFilter(f, { strategy: "linear", valueSearch: true }));
          for (const d of data) {
            const want = f.evaluate(d);
            const t = tree.run(d);
            expect(t.ret).toBe(want.ret);
            expect(t.action).toEqual(want.action);
            expect(linear.run(d).ret).toBe(want.ret);
            expect(both.run(d).ret).toBe(want.ret);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("far jumps: big rule sets in the middle of the tree get trampolines and stay correct", () => {
    const many = (base: number) =>
      Array.from(
        { length: 150 },
        (_, i) => new SeccompRule([new SeccompCondition(0, "qword", "eq", BigInt(base + i))]),
      );
    const f = new SeccompFilter({
      rules: [
        ["read", many(0)],
        ["write", many(1000)],
        ["openat", []],
        ["ioctl", many(2000)],
        ["close", []],
        ["mmap", many(3000)],
        ["futex", [new SeccompRule([new SeccompCondition(1, "qword", "gt", 1n << 40n)])]],
      ],
      matchAction: "allow",
      mismatchAction: { errno: 1 },
    });
    const insns = compileInstructions(f);
    expect(insns.length).toBeGreaterThan(1000);
    expect(insns.some((x) => x.code === (BPF_JMP | BPF_JA))).toBe(true);
    const bpf = new BpfProgram(encodeProgram(insns));
    const check = (nr: number, a0: bigint, a1 = 0n) => {
      const d = { nr, arch: AUDIT_ARCH_X86_64, args: [a0, a1] };
      expect(bpf.run(d).ret, `${nr} ${a0}`).toBe(f.evaluate(d).ret);
      return bpf.run(d).action;
    };
    expect(check(0, 149n)).toBe("allow");
    expect(check(0, 150n)).toEqual({ errno: 1 });
    expect(check(1, 1149n)).toBe("allow");
    expect(check(16, 2000n)).toBe("allow");
    expect(check(9, 3149n)).toBe("allow");
    expect(check(9, 3150n)).toEqual({ errno: 1 });
    expect(check(202, 0n, (1n << 40n) + 1n)).toBe("allow");
    expect(check(257, 0n)).toBe("allow");
    expect(check(3, 0n)).toBe("allow");
    expect(check(4, 0n)).toEqual({ errno: 1 });
  });

  it("value search: many dword-eq rules on one argument are a sorted set, searched in log time", () => {
    const values = Array.from({ length: 1500 }, (_, i) => BigInt(i * 7 + 3));
    const f = new SeccompFilter({
      rules: [
        [
          "ioctl",
          [
            ...values.map((v) => new SeccompRule([new SeccompCondition(1, "dword", "eq", v)])),
            new SeccompRule([new SeccompCondition(0, "qword", "gt", 1n << 40n)]),
            new SeccompRule([new SeccompCondition(2, "dword", "eq", 5n)]),
          ],
        ],
        ["read", []],
      ],
      matchAction: "allow",
      mismatchAction: "trap",
    });
    const searched = new BpfProgram(compileFilter(f));
    const chained = new BpfProgram(compileFilter(f, { valueSearch: false }));
    let worst = 0;
    for (let v = 0n; v < 1500n * 7n + 10n; v += 2n) {
      // Every value and its neighbours, with the other rules' arguments rotating in.
      const variants = [
        [0n, v],
        [(1n << 40n) + 1n, v],
        [0n, v | (1n << 33n), 5n],
      ];
      const args = variants[Number(v % 3n)]!;
      const d = { nr: 16, arch: AUDIT_ARCH_X86_64, args };
      const r = searched.run(d);
      expect(r.ret).toBe(f.evaluate(d).ret);
      worst = Math.max(worst, r.executed);
      if (v % 97n === 0n) expect(chained.run(d).ret).toBe(r.ret);
    }
    expect(worst).toBeLessThan(40);
    expect(chained.run({ nr: 16, arch: AUDIT_ARCH_X86_64, args: [0n, 1499n * 7n + 3n] }).executed).toBeGreaterThan(
      1500,
    );
  });

  it("the arch check comes first and kills on a foreign architecture", () => {
    const f = new SeccompFilter({ rules: { read: [] }, matchAction: "allow", mismatchAction: "trap" });
    const insns = decodeProgram(compileFilter(f));
    expect(insns[0]).toEqual(stmt(BPF_LD | BPF_W | BPF_ABS, 4));
    expect(insns[1]!.k).toBe(AUDIT_ARCH_X86_64);
    const bpf = new BpfProgram(compileFilter(f));
    const foreign = bpf.run({ nr: 0, arch: AUDIT_ARCH_AARCH64 });
    expect(foreign.action).toBe("kill_process");
    expect(foreign.executed).toBe(3);
    expect(bpf.run({ nr: 0x40000000, arch: AUDIT_ARCH_X86_64 }).action).toBe("kill_process"); // x32 read
    expect(bpf.run({ nr: 0xffffffff, arch: AUDIT_ARCH_X86_64 }).action).toBe("trap"); // -1 is not x32
  });

  it("binary search: the cost of a syscall does not grow with its place in the filter", () => {
    const names = syscallTable("x86_64").slice(0, 300);
    const f = new SeccompFilter({
      rules: names.map(([n]) => [n, []] as const),
      matchAction: "allow",
      mismatchAction: "trap",
    });
    const tree = new BpfProgram(compileFilter(f));
    const linear = new BpfProgram(compileFilter(f, { strategy: "linear" }));
    const cost = (p: BpfProgram, nr: number) => p.run({ nr, arch: AUDIT_ARCH_X86_64 }).executed;
    const treeCosts = names.map(([, nr]) => cost(tree, nr));
    expect(Math.max(...treeCosts)).toBeLessThanOrEqual(4 + Math.ceil(Math.log2(300)) + 3);
    expect(cost(linear, names[299]![1])).toBeGreaterThan(300);
  });
});

describe("builder API", () => {
  it("validates conditions, rules and filters with typed errors", () => {
    expect(() => new SeccompCondition(6, "qword", "eq", 0n)).toThrowError(
      expect.objectContaining({ code: "INVALID_ARG_INDEX" }),
    );
    expect(() => new SeccompCondition(0, "dword", "eq", 1n << 32n)).toThrowError(
      expect.objectContaining({ code: "VALUE_OUT_OF_RANGE" }),
    );
    expect(() => new SeccompCondition(0, "qword", "eq", -1n)).toThrowError(
      expect.objectContaining({ code: "INVALID_VALUE" }),
    );
    expect(() => new SeccompCondition(0, "qword", "eq", 1n << 64n)).toThrowError(
      expect.objectContaining({ code: "INVALID_VALUE" }),
    );
    expect(() => new SeccompCondition(0, "qword", "eq", 0.5)).toThrowError(
      expect.objectContaining({ code: "INVALID_VALUE" }),
    );
    expect(() => new SeccompRule([])).toThrowError(expect.objectContaining({ code: "EMPTY_RULE" }));
    expect(
      () => new SeccompFilter({ rules: { read: [] }, matchAction: { errno: 3 }, mismatchAction: { errno: 3 } }),
    ).toThrowError(expect.objectContaining({ code: "IDENTICAL_ACTIONS" }));
    expect(() => new SeccompFilter({ rules: { nope: [] }, matchAction: "allow", mismatchAction: "trap" })).toThrowError(
      expect.objectContaining({ code: "UNKNOWN_SYSCALL", path: "rules[nope]" }),
    );
    expect(() => new SeccompFilter({ rules: [[-1, []]], matchAction: "allow", mismatchAction: "trap" })).toThrowError(
      expect.objectContaining({ code: "INVALID_SYSCALL_NUMBER" }),
    );
    expect(() => new SeccompFilter({ rules: {}, matchAction: { errno: 70000 }, mismatchAction: "trap" })).toThrowError(
      expect.objectContaining({ code: "VALUE_OUT_OF_RANGE" }),
    );
  });

  it("builds a filter from names or numbers, in a Map or a record", () => {
    const f = new SeccompFilter({
      rules: new Map<string | number, SeccompRule[]>([
        ["futex", [new SeccompRule([new SeccompCondition(1, "dword", { masked_eq: 0x7fn }, 0n)])]],
        [39, []],
      ]),
      matchAction: "allow",
      mismatchAction: "kill_process",
    });
    expect([...f.syscalls.keys()]).toEqual([39, 202]);
    expect(f.evaluate({ nr: 202, args: [0n, 0x80n] }).action).toBe("allow");
    expect(f.evaluate({ nr: 202, args: [0n, 0x81n] }).action).toBe("kill_process");
  });

  it("userNotifFilter: notify everything except the allow-list", () => {
    const bpf = new BpfProgram(userNotifFilter({ allow: ["read", "write", 60] }));
    const run = (nr: number) => bpf.run({ nr, arch: AUDIT_ARCH_X86_64 }).action;
    expect(run(0)).toBe("allow");
    expect(run(1)).toBe("allow");
    expect(run(60)).toBe("allow");
    expect(run(2)).toBe("user_notif");
    expect(run(435)).toBe("user_notif");
    expect(bpf.run({ nr: 0, arch: AUDIT_ARCH_AARCH64 }).action).toBe("kill_process");
  });
});

describe("BPF interpreter", () => {
  const prog = (...insns: ReturnType<typeof stmt>[]) => encodeProgram(insns);
  const run = (p: Uint8Array, args: bigint[] = []) => new BpfProgram(p).run({ nr: 7, arch: AUDIT_ARCH_X86_64, args });

  it("runs ALU, scratch memory, X register and JSET", () => {
    const p = prog(
      stmt(BPF_LD | BPF_W | BPF_ABS, 16), // A = args[0].lo
      stmt(BPF_ALU | BPF_ADD | BPF_K, 5),
      stmt(BPF_ST, 3),
      stmt(BPF_LDX | BPF_MEM, 3),
      stmt(BPF_ALU | BPF_DIV | BPF_X, 0), // A = A / X = 1
      jump(BPF_JMP | BPF_JSET | BPF_K, 1, 0, 1),
      stmt(BPF_MISC | BPF_TXA, 0), // A = X
      stmt(BPF_RET | BPF_A, 0),
    );
    expect(run(p, [10n])).toMatchObject({ ret: 15, executed: 8 });
    expect(new BpfProgram(p).trace({ nr: 7, arch: AUDIT_ARCH_X86_64, args: [10n] }).path).toEqual([
      0, 1, 2, 3, 4, 5, 6, 7,
    ]);
    // A + 5 wraps to 0: the division by X = 0 ends the program with 0.
    expect(new BpfProgram(p).trace({ nr: 7, arch: AUDIT_ARCH_X86_64, args: [0xfffffffbn] })).toMatchObject({
      path: [0, 1, 2, 3, 4],
      ret: 0,
    });
    expect(disassemble(p)).toContain("ret a");
  });

  it("a division by X = 0 returns 0 (kill_thread)", () => {
    const p = prog(stmt(BPF_ALU | BPF_DIV | BPF_X, 0), stmt(BPF_RET | BPF_K, 0x7fff0000));
    expect(run(p)).toMatchObject({ ret: 0, action: "kill_thread" });
  });

  it.each([
    ["an empty program", new Uint8Array(0)],
    ["a partial instruction", new Uint8Array(12)],
    ["no final ret", prog(stmt(BPF_LD | BPF_W | BPF_ABS, 0))],
    ["an unaligned load", prog(stmt(BPF_LD | BPF_W | BPF_ABS, 2), stmt(BPF_RET | BPF_K, 0))],
    ["a load past seccomp_data", prog(stmt(BPF_LD | BPF_W | BPF_ABS, 64), stmt(BPF_RET | BPF_K, 0))],
    ["a jump out of the program", prog(jump(BPF_JMP | 0x10, 0, 0, 5), stmt(BPF_RET | BPF_K, 0))],
    ["a ja out of the program", prog(stmt(BPF_JMP | BPF_JA, 1), stmt(BPF_RET | BPF_K, 0))],
    ["a division by constant 0", prog(stmt(BPF_ALU | BPF_DIV | BPF_K, 0), stmt(BPF_RET | BPF_K, 0))],
    ["a read of unwritten memory", prog(stmt(BPF_LD | BPF_MEM, 0), stmt(BPF_RET | BPF_K, 0))],
    ["a memory index past 15", prog(stmt(BPF_ST, 16), stmt(BPF_RET | BPF_K, 0))],
    ["a socket-filter-only load (BPF_IND)", prog(stmt(BPF_LD | BPF_W | 0x40, 0), stmt(BPF_RET | BPF_K, 0))],
    ["too many instructions", encodeProgram(Array.from({ length: 4097 }, () => stmt(BPF_RET | BPF_K, 0)))],
  ])("rejects %s", (_what, p) => {
    expect(() => new BpfProgram(p)).toThrowError(BpfProgramError);
  });

  it("accepts exactly 4096 instructions", () => {
    expect(
      () => new BpfProgram(encodeProgram(Array.from({ length: 4096 }, () => stmt(BPF_RET | BPF_A, 0)))),
    ).not.toThrow();
  });

  it("property: hostile programs are refused with BpfProgramError or run to a RET within their length", () => {
    const insn = fc.record({
      code: fc.oneof(
        fc.integer({ min: 0, max: 0xffff }),
        fc.constantFrom(
          0x20,
          0x15,
          0x25,
          0x35,
          0x45,
          0x06,
          0x16,
          0x04,
          0x14,
          0x24,
          0x34,
          0x54,
          0x02,
          0x60,
          0x05,
          0x07,
          0x87,
          0x0c,
          0x84,
        ),
      ),
      jt: fc.integer({ min: 0, max: 255 }),
      jf: fc.integer({ min: 0, max: 255 }),
      k: fc.oneof(
        fc.integer({ min: 0, max: 70 }),
        fc.nat().map((n) => n >>> 0),
      ),
    });
    fc.assert(
      fc.property(
        fc.array(insn, { minLength: 1, maxLength: 40 }),
        fc.array(value, { minLength: 6, maxLength: 6 }),
        (insns, args) => {
          let p: BpfProgram;
          try {
            p = new BpfProgram(encodeProgram(insns));
          } catch (e) {
            expect(e).toBeInstanceOf(BpfProgramError);
            return;
          }
          const r = p.run({ nr: 1, arch: AUDIT_ARCH_X86_64, args });
          expect(r.executed).toBeGreaterThan(0);
          expect(r.executed).toBeLessThanOrEqual(insns.length);
          expect(r.ret).toBe(r.ret >>> 0);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("BPF_A return and BPF_RET|K constants decode to actions", () => {
    expect(run(prog(stmt(BPF_RET | BPF_K, 0x00050000 | 13))).action).toEqual({ errno: 13 });
    expect(run(prog(stmt(BPF_RET | BPF_K, 0x7ff00000 | 2))).action).toEqual({ trace: 2 });
    expect(run(prog(stmt(BPF_RET | BPF_K, 0x12340000))).action).toBe("kill_process");
    expect(run(prog(stmt(BPF_RET | BPF_A, 0))).action).toBe("kill_thread");
  });
});
