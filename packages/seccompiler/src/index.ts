// @kindling/seccompiler: Firecracker-format seccomp filters compiled to BPF, a BPF interpreter, and filter installation.
import { type CompileOptions, compileFilter } from "./compile.js";
import { parseFilters } from "./frontend.js";
import { type SeccompAction, SeccompFilter } from "./model.js";
import type { TargetArch } from "./syscalls/index.js";

export * from "./bpf.js";
export { type CompileOptions, compileFilter, compileInstructions, type DispatchStrategy } from "./compile.js";
export * from "./errors.js";
export { parseFilters } from "./frontend.js";
export { BpfProgram, type BpfResult, runBpf, seccompDataWords } from "./interpreter.js";
export { applyFilter, applyFilterAllThreads, type SpawnFilteredOptions, spawnWithFilter } from "./install.js";
export { type JsonEntry, type JsonNode, MAX_JSON_DEPTH, parseJson, toPlain } from "./json.js";
export {
  ARG_INDEX_MAX,
  type ArgLen,
  actionsEqual,
  actionToRet,
  type CmpOp,
  type Decision,
  formatAction,
  retToAction,
  type SeccompAction,
  SeccompCondition,
  type SeccompData,
  SeccompFilter,
  type SeccompFilterOptions,
  SeccompRule,
} from "./model.js";
export {
  AARCH64_SYSCALLS,
  auditArch,
  hostArch,
  parseArch,
  syscallName,
  syscallNumber,
  syscallTable,
  TARGET_ARCHES,
  type TargetArch,
  X86_64_SYSCALLS,
} from "./syscalls/index.js";

/** A compiled filter of a JSON document. */
export interface CompiledFilter {
  filter: SeccompFilter;
  /** Raw sock_filter bytes for seccomp(2). */
  program: Uint8Array;
}

/**
 * Parses and compiles a Firecracker seccomp JSON document: one program per
 * filter, in file order. Throws typed errors naming the place.
 */
export function compileJson(
  json: string,
  options: { arch?: TargetArch } & Omit<CompileOptions, "name"> = {},
): Map<string, CompiledFilter> {
  const out = new Map<string, CompiledFilter>();
  for (const [name, filter] of parseFilters(json, options.arch ?? "x86_64")) {
    const opts: CompileOptions = { name };
    if (options.strategy !== undefined) opts.strategy = options.strategy;
    out.set(name, { filter, program: compileFilter(filter, opts) });
  }
  return out;
}

export interface UserNotifFilterOptions {
  /** Syscalls (names or numbers) the kernel runs directly; every other one is notified. */
  allow: ReadonlyArray<string | number>;
  arch?: TargetArch;
  /** The action for everything else; default "user_notif". */
  otherwise?: SeccompAction;
}

/**
 * The filter of a user-notification sandbox: SECCOMP_RET_USER_NOTIF for every
 * syscall except `allow`, which the kernel runs. Install it with
 * SECCOMP_FILTER_FLAG_NEW_LISTENER (e.g. `spawnWithFilter({ seccompFlags })`).
 */
export function userNotifFilter(options: UserNotifFilterOptions): Uint8Array {
  const filter = new SeccompFilter({
    rules: options.allow.map((s) => [s, []] as const),
    matchAction: "allow",
    mismatchAction: options.otherwise ?? "user_notif",
    arch: options.arch ?? "x86_64",
  });
  return compileFilter(filter);
}
