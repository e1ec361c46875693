import { SYSCALL_NAMES } from "./syscall-table.js";

const byName = new Map<string, number>();
for (let nr = 0; nr < SYSCALL_NAMES.length; nr++) {
  const n = SYSCALL_NAMES[nr]!;
  if (n !== "") byName.set(n, nr);
}

/** The x86-64 name of system call `nr`, or `syscall_<nr>` (strace's spelling) when unknown. */
export function syscallName(nr: number): string {
  const n = Number.isInteger(nr) && nr >= 0 && nr < SYSCALL_NAMES.length ? SYSCALL_NAMES[nr]! : "";
  return n !== "" ? n : `syscall_${Number.isInteger(nr) && nr >= 0 ? `0x${nr.toString(16)}` : String(nr)}`;
}

/** The number of a system call by name, or undefined. */
export function syscallNumber(name: string): number | undefined {
  return byName.get(name);
}

export { SYSCALL_NAMES };
