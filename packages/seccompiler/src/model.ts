/**
 * The filter model (rust-vmm seccompiler's IR): actions, conditions, rules and
 * filters, their validation, and a direct evaluation that does not go through
 * BPF (the reference the compiled programs are checked against).
 */
import {
  SECCOMP_RET_ACTION_FULL,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_DATA,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_KILL_THREAD,
  SECCOMP_RET_LOG,
  SECCOMP_RET_TRACE,
  SECCOMP_RET_TRAP,
  SECCOMP_RET_USER_NOTIF,
  X32_SYSCALL_BIT,
} from "./bpf.js";
import { FilterValidationError } from "./errors.js";
import { auditArch, syscallName, syscallNumber, type TargetArch } from "./syscalls/index.js";

/** What a filter does with a system call (the JSON spelling). */
export type SeccompAction =
  | "allow"
  | "kill_thread"
  | "kill_process"
  | "log"
  | "trap"
  | "user_notif"
  | { errno: number }
  | { trace: number };

export type ArgLen = "dword" | "qword";
export type CmpOp = "eq" | "ne" | "lt" | "le" | "gt" | "ge" | { masked_eq: bigint };

/** Largest argument index (seccomp_data has 6 arguments). */
export const ARG_INDEX_MAX = 5;
const U64_MAX = (1n << 64n) - 1n;
const U32_MAX = 0xffffffffn;

/** The 32-bit seccomp return value of an action. */
export function actionToRet(action: SeccompAction): number {
  if (typeof action === "object") {
    if ("errno" in action) return (SECCOMP_RET_ERRNO | (action.errno & SECCOMP_RET_DATA)) >>> 0;
    return (SECCOMP_RET_TRACE | (action.trace & SECCOMP_RET_DATA)) >>> 0;
  }
  switch (action) {
    case "allow":
      return SECCOMP_RET_ALLOW;
    case "kill_thread":
      return SECCOMP_RET_KILL_THREAD;
    case "kill_process":
      return SECCOMP_RET_KILL_PROCESS;
    case "log":
      return SECCOMP_RET_LOG;
    case "trap":
      return SECCOMP_RET_TRAP;
    case "user_notif":
      return SECCOMP_RET_USER_NOTIF;
  }
}

/**
 * The action of a seccomp return value, as the kernel reads it: an unknown
 * action value is treated as kill_process.
 */
export function retToAction(ret: number): SeccompAction {
  const data = ret & SECCOMP_RET_DATA;
  switch ((ret & SECCOMP_RET_ACTION_FULL) >>> 0) {
    case SECCOMP_RET_KILL_PROCESS:
      return "kill_process";
    case SECCOMP_RET_KILL_THREAD:
      return "kill_thread";
    case SECCOMP_RET_TRAP:
      return "trap";
    case SECCOMP_RET_ERRNO:
      return { errno: data };
    case SECCOMP_RET_USER_NOTIF:
      return "user_notif";
    case SECCOMP_RET_TRACE:
      return { trace: data };
    case SECCOMP_RET_LOG:
      return "log";
    case SECCOMP_RET_ALLOW:
      return "allow";
    default:
      return "kill_process";
  }
}

/** An action as text: `allow`, `errno(1)`. */
export function formatAction(action: SeccompAction): string {
  if (typeof action === "string") return action;
  return "errno" in action ? `errno(${action.errno})` : `trace(${action.trace})`;
}

export function actionsEqual(a: SeccompAction, b: SeccompAction): boolean {
  return actionToRet(a) === actionToRet(b);
}

/** Checks an action given by code (JSON actions are checked by the parser). */
export function validateAction(action: SeccompAction, path?: string): SeccompAction {
  const simple = ["allow", "kill_thread", "kill_process", "log", "trap", "user_notif"];
  if (typeof action === "string") {
    if (!simple.includes(action)) throw new FilterValidationError("INVALID_ACTION", `unknown action "${action}"`, path);
    return action;
  }
  if (action !== null && typeof action === "object") {
    const keys = Object.keys(action);
    const k = keys[0];
    if (keys.length === 1 && (k === "errno" || k === "trace")) {
      const v = (action as Record<string, unknown>)[k];
      if (typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= SECCOMP_RET_DATA) return action;
      throw new FilterValidationError(
        "VALUE_OUT_OF_RANGE",
        `${k} value must be an integer 0..65535 (the 16-bit SECCOMP_RET_DATA)`,
        path ? `${path}.${k}` : k,
      );
    }
  }
  throw new FilterValidationError("INVALID_ACTION", `invalid action ${String(action)}`, path);
}

/** The data the kernel gives a filter: struct seccomp_data. */
export interface SeccompData {
  nr: number;
  /** AUDIT_ARCH_* (defaults to the filter's architecture where a filter evaluates). */
  arch?: number;
  instructionPointer?: bigint;
  /** Up to six 64-bit arguments; missing ones are 0. */
  args?: readonly bigint[];
}

function toU64(v: bigint | number, path: string | undefined, what: string): bigint {
  const b = typeof v === "bigint" ? v : Number.isSafeInteger(v) ? BigInt(v) : undefined;
  if (b === undefined || b < 0n || b > U64_MAX) {
    throw new FilterValidationError("INVALID_VALUE", `${what} must be an integer 0..2^64-1`, path);
  }
  return b;
}

/** One comparison of a syscall argument with a constant. */
export class SeccompCondition {
  readonly index: number;
  readonly type: ArgLen;
  readonly op: CmpOp;
  readonly value: bigint;

  /**
   * `dword` compares the argument's low 32 bits (the value must fit in 32 bits),
   * `qword` all 64. `{masked_eq: mask}` is true when `(arg & mask) == (value & mask)`.
   */
  constructor(index: number, type: ArgLen, op: CmpOp, value: bigint | number, path?: string) {
    const at = (f: string) => (path ? `${path}.${f}` : f);
    if (!Number.isInteger(index) || index < 0 || index > ARG_INDEX_MAX) {
      throw new FilterValidationError(
        "INVALID_ARG_INDEX",
        `argument index ${index} is out of range 0..${ARG_INDEX_MAX}`,
        at("index"),
      );
    }
    if (type !== "dword" && type !== "qword") {
      throw new FilterValidationError("INVALID_VALUE", `argument type must be "dword" or "qword"`, at("type"));
    }
    const v = toU64(value, at("val"), "val");
    let o: CmpOp;
    if (typeof op === "string") {
      if (!["eq", "ne", "lt", "le", "gt", "ge"].includes(op)) {
        throw new FilterValidationError("INVALID_VALUE", `unknown operator "${op}"`, at("op"));
      }
      o = op;
    } else if (op !== null && typeof op === "object" && "masked_eq" in op) {
      o = { masked_eq: toU64(op.masked_eq, at("op.masked_eq"), "mask") };
    } else {
      throw new FilterValidationError("INVALID_VALUE", "unknown operator", at("op"));
    }
    if (type === "dword") {
      if (v > U32_MAX) {
        throw new FilterValidationError("VALUE_OUT_OF_RANGE", `dword value ${v} does not fit in 32 bits`, at("val"));
      }
      if (typeof o === "object" && o.masked_eq > U32_MAX) {
        throw new FilterValidationError(
          "VALUE_OUT_OF_RANGE",
          `dword mask ${o.masked_eq} does not fit in 32 bits`,
          at("op.masked_eq"),
        );
      }
    }
    this.index = index;
    this.type = type;
    this.op = o;
    this.value = v;
  }

  /** Direct evaluation on the six 64-bit arguments. */
  matches(args: readonly bigint[]): boolean {
    let a = BigInt.asUintN(64, args[this.index] ?? 0n);
    if (this.type === "dword") a &= U32_MAX;
    const v = this.value;
    if (typeof this.op === "object") return (a & this.op.masked_eq) === (v & this.op.masked_eq);
    switch (this.op) {
      case "eq":
        return a === v;
      case "ne":
        return a !== v;
      case "lt":
        return a < v;
      case "le":
        return a <= v;
      case "gt":
        return a > v;
      case "ge":
        return a >= v;
    }
  }

  toString(): string {
    const op = typeof this.op === "object" ? `&0x${this.op.masked_eq.toString(16)} ==` : this.op;
    return `arg${this.index}${this.type === "dword" ? ".lo32" : ""} ${op} ${this.value}`;
  }
}

/** An AND of conditions. */
export class SeccompRule {
  readonly conditions: readonly SeccompCondition[];
  constructor(conditions: readonly SeccompCondition[], path?: string) {
    if (conditions.length === 0) {
      throw new FilterValidationError("EMPTY_RULE", "a rule needs at least one condition", path);
    }
    this.conditions = [...conditions];
  }
  matches(args: readonly bigint[]): boolean {
    return this.conditions.every((c) => c.matches(args));
  }
}

export interface SeccompFilterOptions {
  /** Per syscall (name or number) its rules, OR-ed; an empty list matches every call. */
  rules: Iterable<readonly [string | number, readonly SeccompRule[]]> | Record<string, readonly SeccompRule[]>;
  mismatchAction: SeccompAction;
  matchAction: SeccompAction;
  arch?: TargetArch;
}

/** The decision of a filter on one syscall, from direct evaluation. */
export interface Decision {
  action: SeccompAction;
  /** The 32-bit value the filter returns. */
  ret: number;
  /** Why: "arch" (foreign architecture), "x32", "rule" (a rule matched), "default". */
  reason: "arch" | "x32" | "rule" | "default";
  /** With reason "rule": the index of the rule among the syscall's rules (-1: unconditional). */
  rule?: number;
}

/**
 * A seccomp filter: for each syscall number, the rules that trigger
 * `matchAction`; anything else gets `mismatchAction`. A syscall whose rule list
 * is `null` matches unconditionally.
 */
export class SeccompFilter {
  readonly arch: TargetArch;
  readonly matchAction: SeccompAction;
  readonly mismatchAction: SeccompAction;
  /** Ascending by syscall number. */
  readonly syscalls: ReadonlyMap<number, readonly SeccompRule[] | null>;

  constructor(options: SeccompFilterOptions, path?: string) {
    const at = (f: string) => (path ? `${path}.${f}` : f);
    this.arch = options.arch ?? "x86_64";
    auditArch(this.arch);
    this.matchAction = validateAction(options.matchAction, at("match_action"));
    this.mismatchAction = validateAction(options.mismatchAction, at("mismatch_action"));
    if (actionsEqual(this.matchAction, this.mismatchAction)) {
      throw new FilterValidationError(
        "IDENTICAL_ACTIONS",
        `match and mismatch actions are both ${formatAction(this.matchAction)}`,
        path,
      );
    }
    const entries: Iterable<readonly [string | number, readonly SeccompRule[]]> =
      Symbol.iterator in options.rules
        ? (options.rules as Iterable<readonly [string | number, readonly SeccompRule[]]>)
        : Object.entries(options.rules as Record<string, readonly SeccompRule[]>);
    const acc = new Map<number, SeccompRule[] | null>();
    for (const [sys, rules] of entries) {
      const nr = resolveSyscall(sys, this.arch, at(`rules[${String(sys)}]`));
      addRules(acc, nr, rules.length === 0 ? null : [...rules]);
    }
    this.syscalls = new Map([...acc.entries()].sort((a, b) => a[0] - b[0]));
  }

  /** Direct evaluation (no BPF): the reference for the compiled program. */
  evaluate(data: SeccompData): Decision {
    const arch = data.arch ?? auditArch(this.arch);
    const kill: SeccompAction = "kill_process";
    if (arch >>> 0 !== auditArch(this.arch)) return { action: kill, ret: actionToRet(kill), reason: "arch" };
    const nr = data.nr >>> 0;
    const rules = this.syscalls.get(nr);
    if (rules !== undefined) {
      if (rules === null)
        return { action: this.matchAction, ret: actionToRet(this.matchAction), reason: "rule", rule: -1 };
      const args = data.args ?? [];
      const i = rules.findIndex((r) => r.matches(args));
      if (i >= 0) return { action: this.matchAction, ret: actionToRet(this.matchAction), reason: "rule", rule: i };
    } else if (this.arch === "x86_64" && nr >= X32_SYSCALL_BIT && nr !== 0xffffffff) {
      return { action: kill, ret: actionToRet(kill), reason: "x32" };
    }
    return { action: this.mismatchAction, ret: actionToRet(this.mismatchAction), reason: "default" };
  }

  /** The number of rules (unconditional entries count as one). */
  get ruleCount(): number {
    let n = 0;
    for (const r of this.syscalls.values()) n += r === null ? 1 : r.length;
    return n;
  }

  /** A syscall number's name on this filter's architecture. */
  syscallName(nr: number): string | undefined {
    return syscallName(nr, this.arch);
  }
}

/** OR-merge: an unconditional entry absorbs conditional rules of the same syscall. */
export function addRules(acc: Map<number, SeccompRule[] | null>, nr: number, rules: SeccompRule[] | null): void {
  const prev = acc.get(nr);
  if (prev === null) return;
  if (rules === null) acc.set(nr, null);
  else if (prev === undefined) acc.set(nr, rules);
  else prev.push(...rules);
}

export function resolveSyscall(sys: string | number, arch: TargetArch, path?: string): number {
  if (typeof sys === "number") {
    if (!Number.isInteger(sys) || sys < 0 || sys >= X32_SYSCALL_BIT) {
      throw new FilterValidationError("INVALID_SYSCALL_NUMBER", `invalid syscall number ${sys}`, path);
    }
    return sys;
  }
  const nr = syscallNumber(sys, arch);
  if (nr === undefined) {
    throw new FilterValidationError("UNKNOWN_SYSCALL", `unknown syscall "${sys}" on ${arch}`, path);
  }
  return nr;
}
