// @kindling/libos: a library OS: the Linux x86-64 syscall ABI served in TypeScript.
export * from "./abi.js";
export { ByteBudget, DEFAULT_BUDGET_BYTES, type SandboxMemory, sandboxMemory } from "./budget.js";
export type { Handler, Outcome, SyscallModule, SyscallTable } from "./dispatch.js";
export { createTable, define } from "./dispatch.js";
export * as errno from "./errno.js";
export { LibosError } from "./errors.js";
export * as vfs from "./fs/index.js";
export { type MountSpec, SandboxFs, type SandboxFsOptions } from "./fs/index.js";
export { hostRlimits } from "./host.js";
export {
  type Clock,
  errnoOf,
  hostClock,
  type Identity,
  isMemoryFault,
  Libos,
  type LibosOptions,
  type MemoryRegion,
  Task,
  type Utsname,
} from "./kernel.js";
export { type ProgramLayout, programMemory } from "./layout.js";
export { AddressSpace, type AddressSpaceOptions, addRange, type Mapping, type MappingKind, removeRange } from "./mm.js";
export * from "./signals.js";
export { SYS, SYSCALL_NAMES, type SyscallName, syscallName } from "./sysno.js";
export type { FdTable, FileDescription, StdioEndpoint, StdioHooks, Vfs } from "./vfs-contract.js";
