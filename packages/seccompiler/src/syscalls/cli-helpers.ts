import { SeccompError } from "../errors.js";
import { resolveSyscall } from "../model.js";
import type { TargetArch } from "./index.js";

export { auditArch, parseArch } from "./index.js";

/** A syscall given on a command line: a name, or a number. */
export function resolveSyscallArg(text: string, arch: TargetArch): number {
  if (/^(0x[0-9a-f]+|[0-9]+)$/i.test(text)) {
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n > 0xffffffff)
      throw new SeccompError("INVALID_SYSCALL_NUMBER", `syscall number ${text}`);
    return n;
  }
  return resolveSyscall(text, arch);
}
