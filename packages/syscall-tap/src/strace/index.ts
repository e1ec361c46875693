export {
  errnoMessage,
  errnoSymbol,
  fillsBuffer,
  formatFlags,
  formatOpenFlags,
  formatResult,
  formatSignal,
  formatSyscall,
  quoteBytes,
  STRING_LIMIT,
} from "./format.js";
export { SYSCALL_NAMES, syscallName, syscallNumber } from "./names.js";
export { type SyscallStat, SyscallStats } from "./stats.js";
export { Tracer, type TracerOptions } from "./tracer.js";
