import { X86_64_SYSCALLS } from "@kindling/seccompiler";

/**
 * x86-64 system call names indexed by number ("" where a number is
 * unassigned), from seccompiler's table (generated from the kernel's
 * arch/x86/entry/syscalls/syscall_64.tbl).
 */
export const SYSCALL_NAMES: readonly string[] = (() => {
  let max = 0;
  for (const [, nr] of X86_64_SYSCALLS) max = Math.max(max, nr);
  const names = new Array<string>(max + 1).fill("");
  for (const [name, nr] of X86_64_SYSCALLS) names[nr] = name;
  return names;
})();

const byName = new Map<string, number>(X86_64_SYSCALLS.map(([name, nr]) => [name, nr]));

/** The x86-64 name of system call `nr`, or `syscall_<nr>` (strace's spelling) when unknown. */
export function syscallName(nr: number): string {
  const n = Number.isInteger(nr) && nr >= 0 && nr < SYSCALL_NAMES.length ? SYSCALL_NAMES[nr]! : "";
  return n !== "" ? n : `syscall_${Number.isInteger(nr) && nr >= 0 ? `0x${nr.toString(16)}` : String(nr)}`;
}

/** The number of a system call by name, or undefined. */
export function syscallNumber(name: string): number | undefined {
  return byName.get(name);
}
