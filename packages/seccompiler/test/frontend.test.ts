import {
  AUDIT_ARCH_X86_64,
  BpfProgram,
  compileJson,
  FilterValidationError,
  ProgramTooLargeError,
  parseFilters,
  parseJson,
  SeccompError,
  syscallNumber,
  toPlain,
} from "@kindling/seccompiler";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { firecrackerJson } from "./helpers.js";

const wrap = (rules: string, actions = '"mismatch_action": "trap", "match_action": "allow"') =>
  `{"f": {${actions}, "filter": [${rules}]}}`;

function err(json: string): SeccompError {
  try {
    parseFilters(json);
  } catch (e) {
    expect(e).toBeInstanceOf(SeccompError);
    return e as SeccompError;
  }
  throw new Error("expected an error");
}

describe("Firecracker JSON format: validation errors name their place", () => {
  it.each([
    [
      "unknown syscall",
      wrap('{"syscall": "read"}, {"syscall": "no_such_call"}'),
      "UNKNOWN_SYSCALL",
      "f.filter[1].syscall",
    ],
    [
      "argument index > 5",
      wrap('{"syscall": "read", "args": [{"index": 6, "type": "dword", "op": "eq", "val": 1}]}'),
      "INVALID_ARG_INDEX",
      "f.filter[0].args[0].index",
    ],
    ["empty args", wrap('{"syscall": "read", "args": []}'), "EMPTY_ARGS", "f.filter[0].args"],
    [
      "identical actions",
      wrap('{"syscall": "read"}', '"mismatch_action": {"errno": 1}, "match_action": {"errno": 1}'),
      "IDENTICAL_ACTIONS",
      "f",
    ],
    [
      "unknown field in a filter",
      '{"f": {"mismatch_action": "trap", "match_action": "allow", "filter": [], "x": 1}}',
      "UNKNOWN_FIELD",
      "f.x",
    ],
    [
      "unknown field in a rule",
      wrap('{"syscall": "read", "comentario": "x"}'),
      "UNKNOWN_FIELD",
      "f.filter[0].comentario",
    ],
    [
      "unknown field in a condition",
      wrap('{"syscall": "read", "args": [{"index": 0, "type": "dword", "op": "eq", "val": 1, "mask": 2}]}'),
      "UNKNOWN_FIELD",
      "f.filter[0].args[0].mask",
    ],
    ["duplicate key", wrap('{"syscall": "read", "syscall": "write"}'), "DUPLICATE_KEY", "f.filter[0].syscall"],
    [
      "a field and its alias",
      '{"f": {"mismatch_action": "trap", "default_action": "trap", "match_action": "allow", "filter": []}}',
      "DUPLICATE_KEY",
      "f.default_action",
    ],
    ["missing filter", '{"f": {"mismatch_action": "trap", "match_action": "allow"}}', "MISSING_FIELD", "f"],
    [
      "missing val",
      wrap('{"syscall": "read", "args": [{"index": 0, "type": "dword", "op": "eq"}]}'),
      "MISSING_FIELD",
      "f.filter[0].args[0]",
    ],
    [
      "unknown action",
      wrap('{"syscall": "read"}', '"mismatch_action": "deny", "match_action": "allow"'),
      "INVALID_ACTION",
      "f.mismatch_action",
    ],
    [
      "errno out of range",
      wrap('{"syscall": "read"}', '"mismatch_action": {"errno": 65536}, "match_action": "allow"'),
      "VALUE_OUT_OF_RANGE",
      "f.mismatch_action.errno",
    ],
    [
      "negative value",
      wrap('{"syscall": "read", "args": [{"index": 0, "type": "qword", "op": "eq", "val": -1}]}'),
      "INVALID_VALUE",
      "f.filter[0].args[0].val",
    ],
    [
      "value over 2^64",
      wrap('{"syscall": "read", "args": [{"index": 0, "type": "qword", "op": "eq", "val": 18446744073709551616}]}'),
      "INVALID_VALUE",
      "f.filter[0].args[0].val",
    ],
    [
      "a float value",
      wrap('{"syscall": "read", "args": [{"index": 0, "type": "qword", "op": "eq", "val": 1.5}]}'),
      "INVALID_VALUE",
      "f.filter[0].args[0].val",
    ],
    [
      "dword value over 32 bits",
      wrap('{"syscall": "read", "args": [{"index": 0, "type": "dword", "op": "eq", "val": 4294967296}]}'),
      "VALUE_OUT_OF_RANGE",
      "f.filter[0].args[0].val",
    ],
    [
      "unknown operator",
      wrap('{"syscall": "read", "args": [{"index": 0, "type": "dword", "op": "lte", "val": 1}]}'),
      "INVALID_VALUE",
      "f.filter[0].args[0].op",
    ],
    [
      "unknown type",
      wrap('{"syscall": "read", "args": [{"index": 0, "type": "word", "op": "eq", "val": 1}]}'),
      "INVALID_VALUE",
      "f.filter[0].args[0].type",
    ],
    ["syscall not a string", wrap('{"syscall": 0}'), "INVALID_TYPE", "f.filter[0].syscall"],
    ["comment not a string", wrap('{"syscall": "read", "comment": 1}'), "INVALID_TYPE", "f.filter[0].comment"],
    [
      "filter not an array",
      '{"f": {"mismatch_action": "trap", "match_action": "allow", "filter": {}}}',
      "INVALID_TYPE",
      "f.filter",
    ],
    ["a top level that is not an object", "[]", "INVALID_TYPE", "$"],
  ])("%s", (_what, json, code, path) => {
    const e = err(json);
    expect(e.code).toBe(code);
    expect(e.path).toBe(path);
    expect(e.position?.line).toBeGreaterThanOrEqual(1);
    expect(e.message).toContain(path);
  });

  it("reports the line and column of the offending value", () => {
    const json =
      '{\n "f": {\n  "mismatch_action": "trap",\n  "match_action": "allow",\n  "filter": [\n   {"syscall": "nope"}\n  ]\n }\n}';
    expect(err(json)).toMatchObject({ code: "UNKNOWN_SYSCALL", position: { line: 6, column: 16 } });
    expect(err(json)).toBeInstanceOf(FilterValidationError);
  });

  it("accepts the documented aliases, comments, all actions and operators", () => {
    const actions = [
      '"allow"',
      '"kill_thread"',
      '"kill_process"',
      '"log"',
      '"trap"',
      '"user_notif"',
      '{"errno": 0}',
      '{"trace": 65535}',
    ];
    for (const a of actions) {
      const other = a === '"trap"' ? '"allow"' : '"trap"';
      const json = `{"x": {"default_action": ${a}, "filter_action": ${other}, "filter": [
        {"syscall": "futex", "comment": "c", "args": [
          {"index": 0, "type": "dword", "op": "eq", "val": 1, "comment": "c"},
          {"index": 1, "type": "qword", "op": "ne", "val": 18446744073709551615},
          {"index": 2, "type": "qword", "op": "lt", "val": 2},
          {"index": 3, "type": "qword", "op": "le", "val": 2},
          {"index": 4, "type": "qword", "op": "gt", "val": 2},
          {"index": 5, "type": "qword", "op": "ge", "val": 2},
          {"index": 5, "type": "qword", "op": {"masked_eq": 4}, "val": 4}]}]}}`;
      const f = parseFilters(json).get("x")!;
      expect(f.syscalls.get(202)![0]!.conditions).toHaveLength(7);
    }
  });

  it("rules of one syscall are OR-ed; an unconditional entry absorbs conditional ones", () => {
    const f = parseFilters(
      wrap(`{"syscall": "read", "args": [{"index": 0, "type": "dword", "op": "eq", "val": 1}]},
            {"syscall": "read", "args": [{"index": 0, "type": "dword", "op": "eq", "val": 2}]},
            {"syscall": "write", "args": [{"index": 0, "type": "dword", "op": "eq", "val": 1}]},
            {"syscall": "write"}`),
    ).get("f")!;
    expect(f.syscalls.get(0)).toHaveLength(2);
    expect(f.syscalls.get(1)).toBeNull();
    expect(f.evaluate({ nr: 0, args: [2n] }).action).toBe("allow");
    expect(f.evaluate({ nr: 0, args: [3n] }).action).toBe("trap");
    expect(f.evaluate({ nr: 1, args: [3n] }).action).toBe("allow");
  });

  it("compiles for aarch64 with that architecture's numbers and check", () => {
    const { filter, program } = compileJson(wrap('{"syscall": "openat"}, {"syscall": "fstat"}'), {
      arch: "aarch64",
    }).get("f")!;
    expect([...filter.syscalls.keys()]).toEqual([56, 80]);
    const bpf = new BpfProgram(program);
    expect(bpf.run({ nr: 56, arch: 0xc00000b7 }).action).toBe("allow");
    expect(bpf.run({ nr: 56, arch: AUDIT_ARCH_X86_64 }).action).toBe("kill_process");
    expect(() => parseFilters(wrap('{"syscall": "open"}'), "aarch64")).toThrowError(
      expect.objectContaining({ code: "UNKNOWN_SYSCALL" }),
    );
  });

  it("a program over 4096 instructions is an error naming the filter", () => {
    const many = (n: number) =>
      wrap(
        Array.from(
          { length: n },
          (_, i) => `{"syscall": "ioctl", "args": [{"index": 1, "type": "qword", "op": "eq", "val": ${i}}]}`,
        ).join(","),
      );
    try {
      compileJson(many(1100)); // four instructions per rule
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ProgramTooLargeError);
      expect(e).toMatchObject({ code: "PROGRAM_TOO_LARGE", path: "f" });
      expect((e as ProgramTooLargeError).instructions).toBeGreaterThan(4096);
    }
    const ok = compileJson(many(1000)).get("f")!;
    expect(ok.program.byteLength / 8).toBeLessThanOrEqual(4096);
    const bpf = new BpfProgram(ok.program);
    for (const v of [0n, 999n, 1000n, 1n << 32n]) {
      expect(bpf.run({ nr: 16, arch: AUDIT_ARCH_X86_64, args: [0n, v] }).action).toBe(v < 1000n ? "allow" : "trap");
    }
  });

  it("property: random values in every field either compile or throw a typed error", () => {
    const anyJson = fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v));
    const field = (good: fc.Arbitrary<string>) =>
      fc.oneof({ weight: 12, arbitrary: good }, { weight: 1, arbitrary: anyJson });
    const num = fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 0, max: 5 }).map(String) },
      fc.bigInt({ min: -5n, max: 1n << 65n }).map(String),
      fc.constantFrom("1.5", "1e3", "-0", "18446744073709551615", "4294967296"),
    );
    const action = field(
      fc.oneof(
        fc.constantFrom('"allow"', '"trap"', '"kill_process"', '"log"', '"user_notif"', '"kill_thread"', '"nope"'),
        num.map((n) => `{"errno": ${n}}`),
        num.map((n) => `{"trace": ${n}}`),
      ),
    );
    const cond = fc
      .record({
        index: field(num),
        type: field(fc.constantFrom('"dword"', '"qword"', '"word"')),
        op: field(
          fc.oneof(
            fc.constantFrom('"eq"', '"ne"', '"lt"', '"le"', '"gt"', '"ge"', '"in"'),
            num.map((n) => `{"masked_eq": ${n}}`),
          ),
        ),
        val: field(num),
        extra: fc.option(fc.constantFrom('"comment": "x"', '"comment": 3', '"bogus": 1', '"val": 1'), {
          nil: undefined,
        }),
      })
      .map(
        (c) =>
          `{"index": ${c.index}, "type": ${c.type}, "op": ${c.op}, "val": ${c.val}${c.extra ? `, ${c.extra}` : ""}}`,
      );
    const rule = fc
      .record({
        syscall: field(
          fc.oneof(
            { weight: 8, arbitrary: fc.constantFrom('"read"', '"ioctl"', '"futex"', '"openat"') },
            fc.constantFrom('"nope"', '"__proto__"', '"constructor"', '"open"'),
          ),
        ),
        args: fc.option(fc.array(cond, { maxLength: 3 }), { nil: undefined }),
      })
      .map((r) => `{"syscall": ${r.syscall}${r.args ? `, "args": [${r.args.join(",")}]` : ""}}`);
    const doc = fc
      .record({ m: action, a: action, rules: fc.array(rule, { maxLength: 5 }), name: fc.string({ maxLength: 5 }) })
      .map(
        (d) =>
          `{${JSON.stringify(d.name)}: {"mismatch_action": ${d.m}, "match_action": ${d.a}, "filter": [${d.rules.join(",")}]}}`,
      );
    let compiled = 0;
    fc.assert(
      fc.property(doc, fc.constantFrom("x86_64" as const, "aarch64" as const), (text, arch) => {
        try {
          for (const { filter, program } of compileJson(text, { arch }).values()) {
            const bpf = new BpfProgram(program);
            const d = { nr: 29, arch: arch === "x86_64" ? AUDIT_ARCH_X86_64 : 0xc00000b7, args: [1n, 2n, 3n] };
            expect(bpf.run(d).ret).toBe(filter.evaluate(d).ret);
            compiled++;
          }
        } catch (e) {
          expect(e).toBeInstanceOf(SeccompError);
          expect((e as SeccompError).path).toBeDefined();
        }
      }),
      { numRuns: 1500 },
    );
    console.log(`compiled ${compiled}`);
    expect(compiled).toBeGreaterThan(20);
  });

  it("property: mutated filter files either parse or throw a typed error", () => {
    const base = wrap(
      `{"syscall": "read", "args": [{"index": 0, "type": "dword", "op": {"masked_eq": 255}, "val": 1, "comment": "x"}]},
       {"syscall": "write"}`,
    );
    fc.assert(
      fc.property(fc.nat(base.length - 1), fc.nat(base.length), fc.string({ maxLength: 8 }), (at, len, ins) => {
        const text = base.slice(0, at) + ins + base.slice(Math.min(base.length, at + (len % 6)));
        try {
          const m = compileJson(text);
          for (const { program } of m.values()) new BpfProgram(program);
        } catch (e) {
          expect(e).toBeInstanceOf(SeccompError);
          expect(typeof (e as SeccompError).code).toBe("string");
        }
      }),
      { numRuns: 2000 },
    );
  });
});

// ---------------------------------------------------------------- Firecracker's own filter

interface PlainCond {
  index: bigint;
  type: "dword" | "qword";
  op: string | { masked_eq: bigint };
  val: bigint;
}
interface PlainRule {
  syscall: string;
  args?: PlainCond[];
}

/** Arguments that satisfy a rule's conditions (checked by the caller). */
function satisfying(conds: PlainCond[]): bigint[] {
  const args = [0n, 0n, 0n, 0n, 0n, 0n];
  for (const c of conds) {
    const v = c.val;
    const op = typeof c.op === "string" ? c.op : "masked_eq";
    args[Number(c.index)] = op === "gt" ? v + 1n : op === "lt" ? v - 1n : op === "ne" ? v + 1n : v;
  }
  return args;
}

describe.skipIf(firecrackerJson === undefined)("Firecracker's real filter (../shared/contracts)", () => {
  const text = firecrackerJson ?? "{}";
  const plain = toPlain(parseJson(text)) as Record<
    string,
    { filter: PlainRule[]; default_action: unknown; filter_action: unknown }
  >;

  it("compiles its three filters and keeps all their rules", () => {
    const m = compileJson(text);
    expect([...m.keys()].sort()).toEqual(["api", "vcpu", "vmm"]);
    for (const [name, { filter, program }] of m) {
      const rules = plain[name]!.filter;
      // Every JSON entry is present: unconditional ones as null, conditional ones as rules.
      let conditional = 0;
      for (const r of rules) {
        const nr = syscallNumber(r.syscall, "x86_64")!;
        expect(filter.syscalls.has(nr), `${name}: ${r.syscall}`).toBe(true);
        if (r.args) conditional++;
      }
      const kept = [...filter.syscalls.values()].reduce((n, r) => n + (r === null ? 0 : r.length), 0);
      const absorbed = rules.filter(
        (r) => r.args && filter.syscalls.get(syscallNumber(r.syscall, "x86_64")!) === null,
      ).length;
      expect(kept + absorbed).toBe(conditional);
      expect(new Set(rules.map((r) => r.syscall)).size).toBe(filter.syscalls.size);
      expect(program.byteLength / 8).toBeLessThan(4096);
    }
  });

  it("a sample of syscalls gets the decision the file says", () => {
    const m = compileJson(text);
    for (const [name, { filter, program }] of m) {
      const bpf = new BpfProgram(program);
      const run = (nr: number, args: bigint[]) => bpf.run({ nr, arch: AUDIT_ARCH_X86_64, args });
      for (const r of plain[name]!.filter) {
        const nr = syscallNumber(r.syscall, "x86_64")!;
        const args = satisfying(r.args ?? []);
        // Each rule, given arguments that satisfy it, is allowed (filter_action).
        expect(run(nr, args).action, `${name}: ${r.syscall} ${args}`).toBe("allow");
        expect(filter.evaluate({ nr, args }).action).toBe("allow");
      }
      // Syscalls the file does not list are trapped (default_action).
      for (const s of ["reboot", "execve", "ptrace", "kexec_load", "init_module"]) {
        expect(run(syscallNumber(s, "x86_64")!, []).action, `${name}: ${s}`).toBe("trap");
      }
      // A conditional syscall with arguments that match none of its rules is trapped.
      const conditional = [...filter.syscalls.entries()].filter(([, r]) => r !== null);
      for (const [nr, rules] of conditional) {
        const bad = [
          0xdead_0000_beefn,
          0xdead_0000_beefn,
          0xdead_0000_beefn,
          0xdead_0000_beefn,
          0xdead_0000_beefn,
          0xdead_0000_beefn,
        ];
        const expectAction = rules!.some((rule) => rule.matches(bad)) ? "allow" : "trap";
        expect(run(nr, bad).action).toBe(expectAction);
      }
      // A foreign architecture is killed.
      expect(bpf.run({ nr: 0, arch: 0xc00000b7 }).action).toBe("kill_process");
    }
  });
});
