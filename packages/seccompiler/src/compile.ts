/**
 * BPF code generation.
 *
 * Layout of a program (forward order):
 *
 *     ld  [arch]; jeq AUDIT_ARCH, +1, +0; ret KILL_PROCESS     architecture check first
 *     ld  [nr]
 *     dispatch on nr: a binary search tree (`jge`) down to leaves of at most
 *     3 `jeq`s, each falling into its syscall's rule code; or, with the
 *     "linear" strategy, one `jeq` per syscall in ascending order (rust-vmm's shape)
 *     rule code: rules OR-ed, conditions AND-ed, 64-bit arguments compared as
 *     (high word, low word) pairs; 4 or more one-condition `dword eq` rules on
 *     the same argument are searched as a sorted set (binary search too)
 *     ret MATCH / ret MISMATCH
 *
 * On x86_64 a number that no rule names and that has the x32 bit set (other
 * than -1) kills the process, like a foreign architecture: the x32 ABI would
 * otherwise reach the same kernel entry points under numbers no rule sees.
 *
 * The program is emitted backwards, so every jump target already exists and
 * its distance is known. Conditional jumps reach 255 instructions; a farther
 * `ret` target is duplicated next to the jump and a farther code target gets
 * a `ja` trampoline, so programs of any size up to 4096 are valid.
 */
import {
  BPF_ABS,
  BPF_ALU,
  BPF_AND,
  BPF_JA,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JMP,
  BPF_K,
  BPF_LD,
  BPF_MAXINSNS,
  BPF_RET,
  BPF_W,
  type BpfInsn,
  encodeProgram,
  SECCOMP_DATA_ARCH_OFFSET,
  SECCOMP_DATA_ARGS_OFFSET,
  SECCOMP_DATA_NR_OFFSET,
  SECCOMP_RET_KILL_PROCESS,
  X32_SYSCALL_BIT,
} from "./bpf.js";
import { ProgramTooLargeError } from "./errors.js";
import { actionToRet, type SeccompCondition, type SeccompFilter, type SeccompRule } from "./model.js";
import { auditArch } from "./syscalls/index.js";

export type DispatchStrategy = "tree" | "linear";

export interface CompileOptions {
  /** "tree" (default): binary search on the syscall number. "linear": one jeq per syscall. */
  strategy?: DispatchStrategy;
  /**
   * Search a syscall's `dword eq` rules on one argument (4 or more, like ioctl request
   * lists) as a sorted set instead of one by one. Default: on with "tree", off with "linear".
   */
  valueSearch?: boolean;
  /** Names the filter in a ProgramTooLargeError. */
  name?: string;
}

/** Largest leaf of the dispatch tree (a leaf tests its numbers one by one). */
const LEAF_SIZE = 3;
const MAX_JUMP = 255;

type Label = number;

class Emitter {
  /** Instructions in reverse order: label L is rev[L]. */
  readonly rev: BpfInsn[] = [];
  /** Latest copy of `ret K` per K. */
  private readonly rets = new Map<number, Label>();

  get next(): Label {
    return this.rev.length;
  }

  private push(insn: BpfInsn): Label {
    this.rev.push(insn);
    return this.rev.length - 1;
  }

  stmt(code: number, k: number): Label {
    return this.push({ code, jt: 0, jf: 0, k: k >>> 0 });
  }

  ret(value: number): Label {
    const v = value >>> 0;
    const l = this.rets.get(v);
    if (l !== undefined) return l;
    const n = this.stmt(BPF_RET | BPF_K, v);
    this.rets.set(v, n);
    return n;
  }

  /** Latest `ja` trampoline per far code target. */
  private readonly trampolines = new Map<Label, Label>();

  /** A label reachable by a conditional jump placed next. */
  private near(target: Label): Label {
    const t = this.rev[target]!;
    if (t.code === (BPF_RET | BPF_K)) {
      const l = this.rets.get(t.k);
      if (l !== undefined && this.next - l - 1 <= MAX_JUMP) return l;
      const n = this.stmt(BPF_RET | BPF_K, t.k);
      this.rets.set(t.k, n);
      return n;
    }
    const l = this.trampolines.get(target);
    if (l !== undefined && this.next - l - 1 <= MAX_JUMP) return l;
    const n = this.stmt(BPF_JMP | BPF_JA, this.next - target - 1);
    this.trampolines.set(target, n);
    return n;
  }

  jump(op: number, k: number, onTrue: Label, onFalse: Label): Label {
    let t = onTrue;
    let f = onFalse;
    for (;;) {
      if (this.next - t - 1 > MAX_JUMP) t = this.near(t);
      else if (this.next - f - 1 > MAX_JUMP) f = this.near(f);
      else break;
    }
    const p = this.next;
    return this.push({ code: BPF_JMP | op | BPF_K, jt: p - t - 1, jf: p - f - 1, k: k >>> 0 });
  }

  /** The program in forward order. */
  finish(): BpfInsn[] {
    return [...this.rev].reverse();
  }
}

const LD_ABS = BPF_LD | BPF_W | BPF_ABS;

/** Emits one condition; returns its entry label. */
function emitCondition(e: Emitter, c: SeccompCondition, ok: Label, fail: Label): Label {
  const lo = SECCOMP_DATA_ARGS_OFFSET + 8 * c.index;
  const hi = lo + 4;
  const vl = Number(c.value & 0xffffffffn);
  const vh = Number(c.value >> 32n);
  if (typeof c.op === "object") {
    const m = c.op.masked_eq;
    const ml = Number(m & 0xffffffffn);
    const mh = Number(m >> 32n);
    e.jump(BPF_JEQ, vl & ml, ok, fail);
    e.stmt(BPF_ALU | BPF_AND | BPF_K, ml);
    const l1 = e.stmt(LD_ABS, lo);
    if (c.type === "dword") return l1;
    e.jump(BPF_JEQ, vh & mh, l1, fail);
    e.stmt(BPF_ALU | BPF_AND | BPF_K, mh);
    return e.stmt(LD_ABS, hi);
  }
  // The low-word test; for dword it is the whole test.
  switch (c.op) {
    case "eq":
      e.jump(BPF_JEQ, vl, ok, fail);
      break;
    case "ne":
      e.jump(BPF_JEQ, vl, fail, ok);
      break;
    case "gt":
      e.jump(BPF_JGT, vl, ok, fail);
      break;
    case "ge":
      e.jump(BPF_JGE, vl, ok, fail);
      break;
    case "lt":
      e.jump(BPF_JGE, vl, fail, ok);
      break;
    case "le":
      e.jump(BPF_JGT, vl, fail, ok);
      break;
  }
  const l1 = e.stmt(LD_ABS, lo);
  if (c.type === "dword") return l1;
  // The high word decides unless it is equal to vh.
  switch (c.op) {
    case "eq":
      e.jump(BPF_JEQ, vh, l1, fail);
      break;
    case "ne":
      e.jump(BPF_JEQ, vh, l1, ok);
      break;
    case "gt":
    case "ge": {
      const eq = e.jump(BPF_JEQ, vh, l1, fail);
      e.jump(BPF_JGT, vh, ok, eq);
      break;
    }
    case "lt":
    case "le": {
      const eq = e.jump(BPF_JEQ, vh, l1, ok);
      e.jump(BPF_JGT, vh, fail, eq);
      break;
    }
  }
  return e.stmt(LD_ABS, hi);
}

/** Fewest `dword eq` rules on one argument that are searched as a sorted set. */
const VALUE_SEARCH_MIN = 4;

/** With A holding a value: a binary search of `values` (sorted, unique) → hit, else miss. */
function emitValueSearch(e: Emitter, values: readonly number[], hit: Label, miss: Label): Label {
  const node = (lo: number, hi: number): Label => {
    if (hi - lo <= LEAF_SIZE) {
      let next = miss;
      for (let i = hi - 1; i >= lo; i--) next = e.jump(BPF_JEQ, values[i]!, hit, next);
      return next;
    }
    const mid = lo + Math.ceil((hi - lo) / 2);
    const right = node(mid, hi);
    const left = node(lo, mid);
    return e.jump(BPF_JGE, values[mid]!, right, left);
  };
  return node(0, values.length);
}

/**
 * Emits a syscall's rules; returns the entry label. With `valueSearch`, rules
 * that are one `dword eq` on the same argument (ioctl request lists) are
 * tested as a sorted set by binary search after the other rules.
 */
function emitRules(
  e: Emitter,
  rules: readonly SeccompRule[] | null,
  match: number,
  mismatch: number,
  valueSearch: boolean,
): Label {
  if (rules === null) return e.ret(match);
  let chain: readonly SeccompRule[] = rules;
  const groups: Array<[number, number[]]> = [];
  if (valueSearch) {
    const byArg = new Map<number, Set<number>>();
    for (const r of rules) {
      const c = r.conditions[0]!;
      if (r.conditions.length === 1 && c.type === "dword" && c.op === "eq") {
        const set = byArg.get(c.index) ?? new Set<number>();
        byArg.set(c.index, set);
        set.add(Number(c.value));
      }
    }
    for (const [index, set] of byArg)
      if (set.size >= VALUE_SEARCH_MIN) groups.push([index, [...set].sort((a, b) => a - b)]);
    const grouped = new Set(groups.map(([i]) => i));
    chain = rules.filter((r) => {
      const c = r.conditions[0]!;
      return !(r.conditions.length === 1 && c.type === "dword" && c.op === "eq" && grouped.has(c.index));
    });
  }
  let next = e.ret(mismatch);
  for (let g = groups.length - 1; g >= 0; g--) {
    const [index, values] = groups[g]!;
    const search = emitValueSearch(e, values, e.ret(match), next);
    if (search !== e.next - 1) e.stmt(BPF_JMP | BPF_JA, e.next - search - 1);
    next = e.stmt(LD_ABS, SECCOMP_DATA_ARGS_OFFSET + 8 * index);
  }
  for (let r = chain.length - 1; r >= 0; r--) {
    const conds = chain[r]!.conditions;
    let entry = e.ret(match);
    for (let c = conds.length - 1; c >= 0; c--) entry = emitCondition(e, conds[c]!, entry, next);
    next = entry;
  }
  return next;
}

/** Compiles a filter to sock_filter instructions. */
export function compileInstructions(filter: SeccompFilter, options: CompileOptions = {}): BpfInsn[] {
  const strategy = options.strategy ?? "tree";
  const valueSearch = options.valueSearch ?? strategy === "tree";
  const match = actionToRet(filter.matchAction);
  const mismatch = actionToRet(filter.mismatchAction);
  const e = new Emitter();
  const entries = [...filter.syscalls.entries()];

  // Where a number above every rule's number goes.
  let tail: Label;
  if (filter.arch === "x86_64") {
    const notMinus1 = e.jump(BPF_JEQ, 0xffffffff, e.ret(mismatch), e.ret(SECCOMP_RET_KILL_PROCESS));
    tail = e.jump(BPF_JGE, X32_SYSCALL_BIT, notMinus1, e.ret(mismatch));
  } else tail = e.ret(mismatch);

  // Leaf: jeq n0 → rules0 | jeq n1 → rules1 | … | fail
  const leaf = (lo: number, hi: number, fail: Label): Label => {
    let next = fail;
    for (let i = hi - 1; i >= lo; i--) {
      const [nr, rules] = entries[i]!;
      const body = emitRules(e, rules, match, mismatch, valueSearch);
      next = e.jump(BPF_JEQ, nr, body, next);
    }
    return next;
  };
  const tree = (lo: number, hi: number, fail: Label): Label => {
    if (hi - lo <= LEAF_SIZE) return leaf(lo, hi, fail);
    const mid = lo + Math.ceil((hi - lo) / 2);
    const right = tree(mid, hi, fail);
    const left = tree(lo, mid, e.ret(mismatch));
    return e.jump(BPF_JGE, entries[mid]![0], right, left);
  };
  const dispatch = strategy === "linear" ? leaf(0, entries.length, tail) : tree(0, entries.length, tail);
  // `ld [nr]` falls through into the dispatch code.
  if (dispatch !== e.next - 1) e.stmt(BPF_JMP | BPF_JA, e.next - dispatch - 1);
  const loadNr = e.stmt(LD_ABS, SECCOMP_DATA_NR_OFFSET);
  e.jump(BPF_JEQ, auditArch(filter.arch), loadNr, e.ret(SECCOMP_RET_KILL_PROCESS));
  e.stmt(LD_ABS, SECCOMP_DATA_ARCH_OFFSET);
  const insns = e.finish();
  if (insns.length > BPF_MAXINSNS) throw new ProgramTooLargeError(insns.length, options.name);
  return insns;
}

/** Compiles a filter to the raw sock_filter bytes that seccomp(2) takes. */
export function compileFilter(filter: SeccompFilter, options: CompileOptions = {}): Uint8Array {
  return encodeProgram(compileInstructions(filter, options));
}
