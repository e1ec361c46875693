// @kindling/seccompiler: Firecracker-format seccomp filters compiled to BPF, a BPF interpreter, and filter installation.
export { type CompiledFilter, compileJson, type UserNotifFilterOptions, userNotifFilter } from "./api.js";
export * from "./bpf.js";
export { type CliIo, type OutputIndex, runCli } from "./cli-main.js";
export { type CompileOptions, compileFilter, compileInstructions, type DispatchStrategy } from "./compile.js";
export * from "./errors.js";
export { parseFilters } from "./frontend.js";
export { applyFilter, applyFilterAllThreads, type SpawnFilteredOptions, spawnWithFilter } from "./install.js";
export { BpfProgram, type BpfResult, runBpf, seccompDataWords } from "./interpreter.js";
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
