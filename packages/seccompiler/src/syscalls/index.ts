import { AUDIT_ARCH_AARCH64, AUDIT_ARCH_X86_64 } from "../bpf.js";
import { FilterValidationError } from "../errors.js";
import { AARCH64_SYSCALLS } from "./aarch64.js";
import { X86_64_SYSCALLS } from "./x86_64.js";

export { AARCH64_SYSCALLS, X86_64_SYSCALLS };

/** Target architectures. aarch64 is for compiling only (this host is x86_64). */
export type TargetArch = "x86_64" | "aarch64";
export const TARGET_ARCHES: readonly TargetArch[] = ["x86_64", "aarch64"];

interface Table {
  byName: Map<string, number>;
  byNumber: Map<number, string>;
}
const tables = new Map<TargetArch, Table>();

function table(arch: TargetArch): Table {
  let t = tables.get(arch);
  if (t === undefined) {
    const rows = arch === "x86_64" ? X86_64_SYSCALLS : AARCH64_SYSCALLS;
    t = { byName: new Map(rows), byNumber: new Map(rows.map(([n, nr]) => [nr, n])) };
    tables.set(arch, t);
  }
  return t;
}

/** Parses a target name as rust-vmm does (case-insensitive). */
export function parseArch(name: string, path?: string): TargetArch {
  const a = name.toLowerCase();
  if (a === "x86_64" || a === "aarch64") return a;
  throw new FilterValidationError("UNKNOWN_ARCH", `unknown target architecture "${name}" (x86_64 or aarch64)`, path);
}

/** The AUDIT_ARCH_* value that seccomp_data.arch carries for `arch`. */
export function auditArch(arch: TargetArch): number {
  return arch === "x86_64" ? AUDIT_ARCH_X86_64 : AUDIT_ARCH_AARCH64;
}

/** The host's architecture, if it is a supported target. */
export function hostArch(): TargetArch | undefined {
  return process.arch === "x64" ? "x86_64" : process.arch === "arm64" ? "aarch64" : undefined;
}

/** A syscall's number on `arch`, or undefined when the name is unknown. */
export function syscallNumber(name: string, arch: TargetArch): number | undefined {
  return table(arch).byName.get(name);
}

/** A syscall number's name on `arch`, or undefined. */
export function syscallName(nr: number, arch: TargetArch): string | undefined {
  return table(arch).byNumber.get(nr);
}

/** All [name, number] pairs of `arch`, ascending by number. */
export function syscallTable(arch: TargetArch): ReadonlyArray<readonly [string, number]> {
  return arch === "x86_64" ? X86_64_SYSCALLS : AARCH64_SYSCALLS;
}
