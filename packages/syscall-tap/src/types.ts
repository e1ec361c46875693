/**
 * The contract between a syscall-tap platform (where a program runs and how its
 * system calls are caught) and whoever serves them (the libos, a tracer, a test).
 *
 * Hot-path rule: a platform reuses one event object per task and exposes
 * arguments as numbers (no bigint, no allocation per system call). 64-bit
 * values that need every bit are read with `argU64`.
 */
import type { KvmRegs } from "@kindling/kvm-ioctls";

/**
 * x86-64 general registers, as a plain object (used for signal frames, not per
 * syscall): the same shape as KVM's kvm_regs on every platform.
 */
export type Registers = KvmRegs;

export const REGISTER_NAMES = [
  "rax",
  "rbx",
  "rcx",
  "rdx",
  "rsi",
  "rdi",
  "rsp",
  "rbp",
  "r8",
  "r9",
  "r10",
  "r11",
  "r12",
  "r13",
  "r14",
  "r15",
  "rip",
  "rflags",
] as const satisfies readonly (keyof Registers)[];

/** A failed access to the program's memory; the libos turns it into EFAULT. */
export class MemoryFault extends Error {
  override readonly name = "MemoryFault";
  readonly code = "EFAULT";
  constructor(
    readonly address: number,
    readonly length: number,
  ) {
    super(`bad program address 0x${address.toString(16)} (+${length})`);
  }
}

/**
 * The program's address space as the server sees it. Every method checks the
 * whole range and throws MemoryFault (never a host error) when any byte of it
 * is outside the program's memory.
 */
export interface ProgramMemory {
  /** A copy of `len` bytes at `addr`. */
  read(addr: number, len: number): Uint8Array;
  /**
   * A view of `len` bytes at `addr` that aliases program memory when the
   * platform can (kvm); otherwise a copy. Writes through it reach the program
   * only when `aliases` is true.
   */
  view(addr: number, len: number): Uint8Array;
  readonly aliases: boolean;
  write(addr: number, data: Uint8Array): void;
  /** Fills `[addr, addr+len)` with `byte`. */
  fill(addr: number, len: number, byte: number): void;
  /** A NUL-terminated string (bytes before the NUL); MemoryFault past `max` bytes without NUL → ENAMETOOLONG is the caller's call. */
  readCString(addr: number, max: number): Uint8Array | null;
  readU32(addr: number): number;
  writeU32(addr: number, value: number): void;
  /** 64-bit values as numbers: exact below 2^53 (every user address and size). */
  readU64(addr: number): number;
  writeU64(addr: number, value: number): void;
  readBigU64(addr: number): bigint;
  writeBigU64(addr: number, value: bigint): void;
  /** True when `[addr, addr+len)` is inside the program's memory. */
  contains(addr: number, len: number): boolean;
}

/** One system call stopped at its entry. */
export interface SyscallEvent {
  readonly kind: "syscall";
  /** The system call number (rax at entry). */
  readonly nr: number;
  /** Argument i (rdi, rsi, rdx, r10, r8, r9) as an unsigned number; exact below 2^53. */
  arg(i: number): number;
  /** Argument i as a signed 32-bit int (fds, flags, AT_FDCWD). */
  argI32(i: number): number;
  /** Argument i with all 64 bits. */
  argU64(i: number): bigint;
}

/** A CPU exception raised by program code. */
export interface FaultEvent {
  readonly kind: "fault";
  /** The exception vector: 0 #DE, 6 #UD, 13 #GP, 14 #PF, ... */
  readonly vector: number;
  readonly errorCode: number;
  /** The faulting address (CR2) for #PF, else 0. */
  readonly address: number;
}

/** The platform's hook that stopped the program for another reason. */
export interface StopEvent {
  readonly kind: "stop";
  readonly reason: "timeout" | "cpu-limit" | "exited" | "killed" | "interrupted";
  readonly detail?: string;
}

export type TapEvent = SyscallEvent | FaultEvent | StopEvent;

/**
 * What a server can do to the stopped task before it resumes.
 * Platforms implement this per task.
 */
export interface TaskControl {
  readonly memory: ProgramMemory;
  /** A copy of the registers (not for the hot path). */
  getRegisters(): Registers;
  /** Replaces registers (signal delivery, rt_sigreturn). */
  setRegisters(regs: Registers): void;
  /** FS base (TLS); arch_prctl(ARCH_SET_FS) sets it. */
  getFsBase(): bigint;
  setFsBase(value: bigint): void;
  getGsBase(): bigint;
  setGsBase(value: bigint): void;
  /**
   * True when memory-management syscalls (brk, mmap of anonymous memory,
   * munmap, mprotect, madvise) must run natively in the program's own kernel
   * context (the seccomp platform) rather than be served by the libos.
   */
  readonly nativeMemory: boolean;
  /**
   * True when the host kernel delivers the program's signals and faults itself
   * (the seccomp platform): the server must not build signal frames.
   */
  readonly nativeSignals?: boolean;
  /** The host thread id when the program is a host process (seccomp): what the host side signals. */
  readonly pid?: number;
  /**
   * The thread id and thread group id as the program itself sees them, in its
   * own pid namespace (a jailed seccomp child is pid 2); absent: the host's.
   */
  readonly nsTid?: number;
  readonly nsTgid?: number;
  /**
   * Installs a host fd into the program's own fd table (seccomp: SECCOMP_IOCTL_NOTIF_ADDFD);
   * returns the fd number it got there.
   */
  installFd?(hostFd: number, targetFd?: number, cloexec?: boolean): number;
  /** Extended state (FPU/SSE/AVX) for signal frames: an opaque copy, and its restore. */
  getExtendedState(): Uint8Array;
  setExtendedState(state: Uint8Array): void;
}

/** How the server answers a system call. */
export enum Resume {
  /** rax = the returned value; the program continues after `syscall`. */
  Return = 0,
  /** Let the kernel run this call natively (seccomp platform only). */
  Continue = 1,
  /** The registers were rewritten (signal delivery, rt_sigreturn, execve); do not touch rax. */
  Registers = 2,
  /** The task is finished (exit, exit_group, fatal signal). */
  Exit = 3,
}

/** The server of one task's events: the libos implements this. */
export interface SyscallServer {
  /**
   * Serves one system call. Returns the value for rax (>= 0 or -errno) when
   * `resume` is left as Return; implementations signal the other outcomes by
   * returning one of the Resume codes through `outcome`.
   */
  onSyscall(task: TaskControl, ev: SyscallEvent, outcome: { resume: Resume }): number;
  /** Serves a CPU exception (delivers a signal or ends the task). */
  onFault(task: TaskControl, ev: FaultEvent, outcome: { resume: Resume }): void;
}
