/**
 * The kvm platform: a program runs in ring 3 of a KVM guest that has no
 * kernel. Each `syscall` and each CPU exception leaves the guest through the
 * ring-0 shim's `out`; the vCPU loop turns it into a SyscallEvent or a
 * FaultEvent for the server and resumes ring 3 by writing registers and
 * segments through kvm_run's sync regs. Everything runs synchronously on the
 * calling JavaScript thread, with no allocation per system call.
 */
import {
  EFER_LMA,
  EFER_LME,
  EFER_SCE,
  ExitReason,
  KVM_EXIT_IO_OUT,
  KVM_RUN_OFFSETS,
  KVM_SYNC_X86_REGS,
  KVM_SYNC_X86_SREGS,
  Kvm,
  kvm_segment,
  MSR_CSTAR,
  MSR_LSTAR,
  MSR_STAR,
  MSR_SYSCALL_MASK,
  type VcpuFd,
  type VmFd,
  X86_CR0_ET,
  X86_CR0_MP,
  X86_CR0_NE,
  X86_CR0_PE,
  X86_CR0_PG,
  X86_CR0_WP,
  X86_CR4_OSFXSR,
  X86_CR4_OSXMMEXCPT,
  X86_CR4_PAE,
} from "@kindling/kvm-ioctls";
import { CLOCK_MONOTONIC, CLOCK_THREAD_CPUTIME_ID, kick, ThreadTimer } from "@kindling/sys-util";
import { native } from "@kindling/sys-util/unsafe";
import { GuestMemoryMmap, registerWithVm } from "@kindling/vm-memory";
import {
  type FaultEvent,
  MemoryFault,
  REGISTER_NAMES,
  type Registers,
  Resume,
  type StopEvent,
  type SyscallEvent,
  type SyscallServer,
  type TaskControl,
} from "../types.js";
import {
  EXCEPTION_PORT_BASE,
  GDT_ADDR,
  GDT_LIMIT,
  HAS_ERROR_CODE,
  IDT_ADDR,
  INT80_OUT_RIP,
  INT80_PORT,
  RING0_STACK_BOTTOM,
  RING0_STACK_TOP,
  SEL_USER_CS,
  SEL_USER_DS,
  SHIM_ADDR,
  SPURIOUS_PORT,
  SYSCALL_OUT_RIP,
  SYSCALL_PORT,
  stubOutRip,
  TSS_SEGMENT,
  USER_BASE,
  USER_CS,
  USER_DS,
  writeShim,
} from "./layout.js";
import { GuestProgramMemory } from "./memory.js";

const R = KVM_RUN_OFFSETS;
const SREGS = R.sync_regs_sregs;
const EINTR = 4;
const EAGAIN = 11;
const ENOSYS = 38;
const EFAULT = 14;
const SYS_clock_gettime = 228;
// Register indices in kvm_regs (and in the sync-regs word arrays).
const RAX = 0;
const RCX = 2;
const RDX = 3;
const RSI = 4;
const RDI = 5;
const RSP = 6;
const R11 = 11;
const RIP = 16;
const RFLAGS = 17;
/** Argument registers: rdi, rsi, rdx, r10, r8, r9. */
const ARG_REG = [5, 4, 3, 10, 8, 9];
/** Flags a program may set (Linux's FIX_EFLAGS): CF PF AF ZF SF TF DF OF AC ID; never IOPL or VM. */
const USER_FLAGS_MASK = 0x254dd5;
const RFLAGS_FIXED = 0x202; // bit 1 and IF
const RFLAGS_DF = 0x400;
const RFLAGS_RF = 0x10000n;

/**
 * Whether an `out imm8` exit at `rip` is the shim's instruction at `at`:
 * KVM reports rip at the instruction or (these machines) just past its two bytes.
 */
const shimRip = (rip: number, at: number): boolean => rip === at || rip === at + 2;

/**
 * The length of the port I/O instruction (in, out, ins, outs) that ends at
 * `end` in `bytes` and matches the exit (direction, size, and port: the
 * immediate, or dx for the dx forms), or 0 if none does. Size and rep
 * prefixes right before the opcode count as the instruction's (a preceding
 * instruction's last byte can look like one: then rip is off by a byte).
 */
export function portInsnEndingAt(
  bytes: Uint8Array,
  end: number,
  exit: { out: boolean; size: number; port: number; dx: number },
): number {
  const matches = (op: number, imm: boolean, opsize: boolean): boolean => {
    const out = op >= 0xe4 ? (op & 2) !== 0 : op >= 0x6e;
    const size = (op & 1) === 0 ? 1 : opsize ? 2 : 4;
    const port = imm ? bytes[end - 1] : exit.dx;
    return out === exit.out && size === exit.size && port === exit.port;
  };
  for (const imm of [true, false]) {
    const at = end - (imm ? 2 : 1);
    if (at < 0) continue;
    const op = bytes[at];
    const known = imm ? op >= 0xe4 && op <= 0xe7 : (op >= 0xec && op <= 0xef) || (op >= 0x6c && op <= 0x6f);
    if (!known) continue;
    let start = at;
    let opsize = false;
    while (start > 0 && end - start < 15 && SIZE_REP_PREFIXES.has(bytes[start - 1])) {
      // 0x66 before a word/dword opcode decides the size: take it only if the exit says so.
      if (bytes[start - 1] === 0x66 && (op & 1) === 1 && exit.size !== 2) break;
      if (bytes[start - 1] === 0x66) opsize = true;
      start--;
    }
    if (matches(op, imm, opsize)) return end - start;
  }
  return 0;
}
const SIZE_REP_PREFIXES = new Set([0x66, 0x67, 0xf2, 0xf3]);

/**
 * The port I/O instruction starting at `at` that matches the exit, with its
 * length and whether it is a string form and has a rep prefix; else null.
 */
export function portInsnAt(
  bytes: Uint8Array,
  at: number,
  exit: { out: boolean; size: number; port: number; dx: number },
): { len: number; string: boolean; rep: boolean } | null {
  if (!Number.isSafeInteger(at) || at < 0) return null;
  let i = at;
  let opsize = false;
  let rep = false;
  while (i < bytes.length && i - at < 14 && (ANY_LEGACY_PREFIX.has(bytes[i]) || (bytes[i] & 0xf0) === 0x40)) {
    if (bytes[i] === 0x66) opsize = true;
    if (bytes[i] === 0xf3 || bytes[i] === 0xf2) rep = true;
    i++;
  }
  if (i >= bytes.length) return null;
  const op = bytes[i];
  const imm = op >= 0xe4 && op <= 0xe7;
  const string = op >= 0x6c && op <= 0x6f;
  if (!imm && !string && !(op >= 0xec && op <= 0xef)) return null;
  const len = i + (imm ? 2 : 1) - at;
  if (imm && i + 1 >= bytes.length) return null;
  const out = op >= 0xe4 ? (op & 2) !== 0 : op >= 0x6e;
  const size = (op & 1) === 0 ? 1 : opsize ? 2 : 4;
  const port = imm ? bytes[i + 1] : exit.dx;
  if (out !== exit.out || size !== exit.size || port !== exit.port) return null;
  return { len, string, rep: rep && string };
}

/** Whether the instruction at `rip` is ins or outs (after legacy and REX prefixes). */
export function isStringPortInsn(bytes: Uint8Array, rip: number): boolean {
  if (!Number.isSafeInteger(rip) || rip < 0) return false;
  for (let i = rip; i < bytes.length && i < rip + 15; i++) {
    const b = bytes[i];
    if (ANY_LEGACY_PREFIX.has(b) || (b & 0xf0) === 0x40) continue;
    return b >= 0x6c && b <= 0x6f;
  }
  return false;
}
const ANY_LEGACY_PREFIX = new Set([0x66, 0x67, 0xf2, 0xf3, 0xf0, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65]);

export class KvmPlatformError extends Error {
  override readonly name = "KvmPlatformError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A system call, read straight from the sync-regs words of kvm_run. */
class KvmSyscallEvent implements SyscallEvent {
  readonly kind = "syscall" as const;
  nr = 0;
  constructor(
    private readonly h: Uint32Array,
    private readonly w: BigUint64Array,
  ) {}
  arg(i: number): number {
    const r = ARG_REG[i] * 2;
    return this.h[r] + this.h[r + 1] * 0x1_0000_0000;
  }
  argI32(i: number): number {
    return this.h[ARG_REG[i] * 2] | 0;
  }
  argU64(i: number): bigint {
    return this.w[ARG_REG[i]];
  }
}

class KvmFaultEvent implements FaultEvent {
  readonly kind = "fault" as const;
  vector = 0;
  errorCode = 0;
  address = 0;
}

export interface KvmPlatformOptions {
  /** Guest memory in bytes (the program gets everything above the 2 MiB shim). Default 256 MiB. */
  memorySize?: number;
  /** An open /dev/kvm to share between sandboxes (default: opened and owned here). */
  kvm?: Kvm;
}

export interface RunLimits {
  /** Wall-clock limit in milliseconds. */
  wallMs?: number;
  /** CPU-time limit of the running thread in milliseconds. */
  cpuMs?: number;
}

export type RunResult = { kind: "exited" } | StopEvent | { kind: "error"; code: string; message: string };

/** One program's VM: memory, one vCPU, the shim. */
export class KvmPlatform implements TaskControl {
  readonly nativeMemory = false;
  readonly memory: GuestProgramMemory;
  readonly guestMemory: GuestMemoryMmap;
  readonly memorySize: number;
  /** System calls and faults served so far. */
  syscalls = 0;
  faults = 0;

  readonly #kvm: Kvm;
  readonly #ownsKvm: boolean;
  readonly #vm: VmFd;
  readonly #vcpu: VcpuFd;
  readonly #run: Uint8Array;
  readonly #runView: DataView;
  readonly #w: BigUint64Array;
  readonly #h: Uint32Array;
  readonly #csBytes = kvm_segment.toBytes(USER_CS);
  readonly #ssBytes = kvm_segment.toBytes(USER_DS);
  readonly #event: KvmSyscallEvent;
  readonly #fault = new KvmFaultEvent();
  readonly #outcome = { resume: Resume.Return as Resume };
  readonly #timespec = new BigInt64Array(2);
  #closed = false;

  private constructor(kvm: Kvm, ownsKvm: boolean, memorySize: number) {
    this.#kvm = kvm;
    this.#ownsKvm = ownsKvm;
    this.memorySize = memorySize;
    this.guestMemory = GuestMemoryMmap.fromRanges([{ start: 0, size: memorySize }], {
      backing: "memfd",
      memfdName: "kindling-sandbox",
    });
    const region = this.guestMemory.regions()[0];
    this.memory = new GuestProgramMemory(region.bytes, USER_BASE, memorySize);
    this.#vm = kvm.createVm();
    try {
      this.#vm.setTssAddress(0xfffbd000);
      registerWithVm(this.guestMemory, this.#vm);
      this.#vcpu = this.#vm.createVcpu(0);
    } catch (e) {
      this.#vm.close();
      this.guestMemory.close();
      throw e;
    }
    this.#run = new Uint8Array(this.#vcpu.runBuffer);
    this.#runView = this.#vcpu.runView;
    this.#w = this.#vcpu.syncRegsWords;
    this.#h = this.#vcpu.syncRegsHalves;
    this.#event = new KvmSyscallEvent(this.#h, this.#w);
    this.#setupCpu(writeShim(region.bytes));
  }

  /** Creates the VM, its memory (memfd-backed) and the shim. */
  static create(options: KvmPlatformOptions = {}): KvmPlatform {
    const size = options.memorySize ?? 256 * 1024 * 1024;
    if (!Number.isSafeInteger(size) || size < 4 * USER_BASE || size % USER_BASE !== 0) {
      throw new KvmPlatformError("EINVAL", `memory size ${size} must be a multiple of 2 MiB and at least 8 MiB`);
    }
    // One region, one ArrayBuffer: at most 4 GiB (more would need the program split across regions).
    if (size > 4 * 1024 ** 3) {
      throw new KvmPlatformError("EINVAL", `memory size ${size} is above the kvm platform's 4 GiB maximum`);
    }
    const kvm = options.kvm ?? Kvm.open();
    return new KvmPlatform(kvm, options.kvm === undefined, size);
  }

  #setupCpu(cr3: bigint): void {
    const vcpu = this.#vcpu;
    vcpu.setCpuid2(this.#kvm.supportedCpuid());
    const sregs = vcpu.getSregs();
    Object.assign(sregs, {
      cs: USER_CS,
      ss: USER_DS,
      ds: USER_DS,
      es: USER_DS,
      fs: USER_DS,
      gs: USER_DS,
      tr: TSS_SEGMENT,
      gdt: { base: BigInt(GDT_ADDR), limit: GDT_LIMIT, padding: [] },
      idt: { base: BigInt(IDT_ADDR), limit: 256 * 16 - 1, padding: [] },
      cr0: X86_CR0_PE | X86_CR0_MP | X86_CR0_ET | X86_CR0_NE | X86_CR0_WP | X86_CR0_PG,
      cr3,
      cr4: X86_CR4_PAE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT,
      efer: EFER_LME | EFER_LMA | EFER_SCE,
    });
    sregs.ldt = { ...sregs.ldt, unusable: 1, present: 0, selector: 0 };
    vcpu.setSregs(sregs);
    vcpu.setMsrs([
      { index: MSR_LSTAR, reserved: 0, data: BigInt(SHIM_ADDR) },
      { index: MSR_CSTAR, reserved: 0, data: BigInt(SHIM_ADDR) },
      { index: MSR_STAR, reserved: 0, data: 0x08n << 32n },
      // Clear TF, DF, IF, AC and NT on entry so the shim runs as the CPU left it.
      { index: MSR_SYSCALL_MASK, reserved: 0, data: 0x47700n },
    ]);
    vcpu.setSyncValidRegs(KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS);
  }

  /**
   * Where a loader may write the program: the program's range only (a
   * hostile ELF cannot overwrite the shim). Shaped as linux-loader's
   * GuestMemoryTarget.
   */
  get programTarget(): {
    checkRange(addr: bigint, len: number | bigint): boolean;
    writeSlice(buf: Uint8Array, addr: bigint): void;
  } {
    const mem = this.memory;
    return {
      checkRange: (addr, len) => addr >= BigInt(mem.low) && BigInt(len) >= 0n && addr + BigInt(len) <= BigInt(mem.high),
      writeSlice: (buf, addr) => {
        if (addr < 0n || addr > BigInt(Number.MAX_SAFE_INTEGER)) throw new MemoryFault(Number(addr), buf.length);
        mem.write(Number(addr), buf);
      },
    };
  }

  /** Puts the vCPU at the program's entry point with its initial stack. */
  start(entry: number, stackPointer: number): void {
    const regs = this.#vcpu.getRegs();
    for (const r of REGISTER_NAMES) regs[r] = 0n;
    regs.rip = BigInt(entry);
    regs.rsp = BigInt(stackPointer);
    regs.rflags = BigInt(RFLAGS_FIXED);
    this.#vcpu.setRegs(regs);
  }

  // ------------------------------------------------------------------ TaskControl

  getRegisters(): Registers {
    const out = {} as Registers;
    REGISTER_NAMES.forEach((n, i) => {
      out[n] = this.#w[i];
    });
    return out;
  }

  setRegisters(regs: Registers): void {
    REGISTER_NAMES.forEach((n, i) => {
      this.#w[i] = BigInt.asUintN(64, regs[n]);
    });
    this.#w[RFLAGS] = BigInt((Number(this.#w[RFLAGS] & 0xffffffffn) & USER_FLAGS_MASK) | RFLAGS_FIXED);
    this.#vcpu.setSyncDirtyRegs(KVM_SYNC_X86_REGS);
  }

  getFsBase(): bigint {
    return this.#runView.getBigUint64(SREGS + 72, true);
  }
  setFsBase(value: bigint): void {
    this.#runView.setBigUint64(SREGS + 72, BigInt.asUintN(64, value), true);
    this.#vcpu.setSyncDirtyRegs(KVM_SYNC_X86_SREGS);
  }
  getGsBase(): bigint {
    return this.#runView.getBigUint64(SREGS + 96, true);
  }
  setGsBase(value: bigint): void {
    this.#runView.setBigUint64(SREGS + 96, BigInt.asUintN(64, value), true);
    this.#vcpu.setSyncDirtyRegs(KVM_SYNC_X86_SREGS);
  }
  getExtendedState(): Uint8Array {
    return this.#vcpu.getXsave();
  }
  setExtendedState(state: Uint8Array): void {
    this.#vcpu.setXsave(state);
  }

  // ------------------------------------------------------------------ the loop

  /**
   * Returns to ring 3 with user segments (rip/rflags already in place). The
   * segment registers are rewritten only when the exit left them changed (a
   * real `syscall` loads the kernel's CS and SS); writing sregs makes KVM run
   * its whole KVM_SET_SREGS path, which these machines' nested KVM skips at
   * `syscall` since it stays in CPL 3.
   */
  #resumeUser(): void {
    const rv = this.#runView;
    if (rv.getUint16(SREGS + 12, true) !== SEL_USER_CS || rv.getUint16(SREGS + 120 + 12, true) !== SEL_USER_DS) {
      this.#run.set(this.#csBytes, SREGS);
      this.#run.set(this.#ssBytes, SREGS + 120);
      this.#vcpu.setSyncDirtyRegs(KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS);
    } else {
      this.#vcpu.setSyncDirtyRegs(KVM_SYNC_X86_REGS);
    }
  }

  #threadCpuMs(): number {
    const r = native().syscall(SYS_clock_gettime, CLOCK_THREAD_CPUTIME_ID, this.#timespec);
    if (r < 0) return 0;
    return Number(this.#timespec[0]) * 1000 + Number(this.#timespec[1]) / 1e6;
  }

  /**
   * Runs the program until it exits, a limit expires or the guest fails,
   * serving every system call and fault with `server`.
   */
  run(server: SyscallServer, limits: RunLimits = {}): RunResult {
    if (this.#closed) throw new KvmPlatformError("EBADF", "the platform is closed");
    const vcpu = this.#vcpu;
    vcpu.makeKickable();
    const wallDeadline = limits.wallMs !== undefined ? performance.now() + limits.wallMs : Infinity;
    const cpuDeadline = limits.cpuMs !== undefined ? this.#threadCpuMs() + limits.cpuMs : Infinity;
    let wallTimer: ThreadTimer | undefined;
    let cpuTimer: ThreadTimer | undefined;
    if (limits.wallMs !== undefined) {
      wallTimer = new ThreadTimer(CLOCK_MONOTONIC);
      wallTimer.set(Math.max(1, Math.round(limits.wallMs * 1e6)), 50_000_000);
    }
    if (limits.cpuMs !== undefined) {
      cpuTimer = new ThreadTimer(CLOCK_THREAD_CPUTIME_ID);
      cpuTimer.set(Math.max(1, Math.round(limits.cpuMs * 1e6)), 50_000_000);
    }
    try {
      return this.#loop(server, wallDeadline, cpuDeadline);
    } finally {
      wallTimer?.delete();
      cpuTimer?.delete();
      this.#run[R.immediate_exit] = 0;
      // The thread's kick handler writes kvm_run.immediate_exit of its target: once
      // the platform is closed that mapping is gone, and a later kick (another
      // ThreadTimer, the seccomp platform's deadline) would write to freed memory.
      kick.setTarget(null);
    }
  }

  #loop(server: SyscallServer, wallDeadline: number, cpuDeadline: number): RunResult {
    const vcpu = this.#vcpu;
    const rv = this.#runView;
    const w = this.#w;
    const h = this.#h;
    const ev = this.#event;
    const outcome = this.#outcome;
    for (;;) {
      const reason = vcpu.runRaw();
      if (reason === ExitReason.Io) {
        // kvm_run.io: direction u8, size u8, port u16, count u32. The shim's own `out`s are
        // 1-byte single writes from known addresses; KVM reports rip at the instruction.
        const port = rv.getUint16(R.exit + 2, true);
        const shimOut =
          rv.getUint8(R.exit) === KVM_EXIT_IO_OUT &&
          rv.getUint8(R.exit + 1) === 1 &&
          rv.getUint32(R.exit + 4, true) === 1;
        const rip = h[RIP * 2 + 1] === 0 ? h[RIP * 2] : -1;
        if (shimOut && port === SYSCALL_PORT && shimRip(rip, SYSCALL_OUT_RIP)) {
          this.syscalls++;
          ev.nr = h[0];
          outcome.resume = Resume.Return;
          let ret: number;
          try {
            ret = server.onSyscall(this, ev, outcome);
          } catch (e) {
            if (!(e instanceof MemoryFault)) throw e;
            ret = -EFAULT;
            outcome.resume = Resume.Return;
          }
          const resume = outcome.resume as Resume;
          switch (resume) {
            case Resume.Return:
            case Resume.Continue: {
              if (resume === Resume.Continue) ret = -ENOSYS;
              h[0] = ret >>> 0;
              h[1] = ret < 0 ? 0xffffffff : Math.floor(ret / 0x1_0000_0000) >>> 0;
              h[RIP * 2] = h[RCX * 2];
              h[RIP * 2 + 1] = h[RCX * 2 + 1];
              h[RFLAGS * 2] = (h[R11 * 2] & USER_FLAGS_MASK) | RFLAGS_FIXED;
              h[RFLAGS * 2 + 1] = 0;
              this.#resumeUser();
              break;
            }
            case Resume.Registers:
              this.#resumeUser();
              break;
            case Resume.Exit:
              return { kind: "exited" };
          }
          continue;
        }
        const vector = port - EXCEPTION_PORT_BASE;
        if (shimOut && vector >= 0 && vector < 32 && shimRip(rip, stubOutRip(vector))) {
          const r = this.#onException(server, vector);
          if (r !== undefined) return r;
          continue;
        }
        if (shimOut && port === INT80_PORT && shimRip(rip, INT80_OUT_RIP)) {
          const r = this.#onInt80();
          if (r !== undefined) return r;
          continue;
        }
        if (shimOut && port === SPURIOUS_PORT && shimRip(rip, stubOutRip(32))) {
          return { kind: "error", code: "ESPURIOUS", message: "the guest took an unexpected interrupt" };
        }
        // Program code did port I/O: the one port the TSS opens to ring 3 is the shim's, so for
        // the program it is Linux's #GP (error code 0) at the instruction, never a system call.
        const r = this.#onProgramIo(server);
        if (r !== undefined) return r;
        continue;
      }
      if (reason === -EINTR || reason === -EAGAIN) {
        this.#run[R.immediate_exit] = 0;
        if (performance.now() >= wallDeadline) return { kind: "stop", reason: "timeout" };
        if (this.#threadCpuMs() >= cpuDeadline) return { kind: "stop", reason: "cpu-limit" };
        continue;
      }
      if (reason < 0) return { kind: "error", code: "EKVMRUN", message: `KVM_RUN failed with errno ${-reason}` };
      if (reason === ExitReason.Intr) continue;
      const exit = vcpu.decodeExit();
      const at = `rip 0x${w[RIP].toString(16)}`;
      if (exit.kind === "Shutdown") {
        return { kind: "error", code: "ETRIPLEFAULT", message: `the guest shut down (triple fault) at ${at}` };
      }
      return { kind: "error", code: "EEXIT", message: `unexpected vCPU exit ${exit.kind} at ${at}` };
    }
  }

  /**
   * Pops the ring-0 frame the CPU pushed for vector `vector` from ring 3 back
   * into the user registers. Returns the error code (0 when the vector has
   * none), or an error when the frame is not one from ring 3 on the ring-0 stack.
   */
  #popFrame(vector: number): number | RunResult {
    const w = this.#w;
    const mem = this.guestMemory.regions()[0].view;
    let sp = Number(w[RSP]);
    // The frame must lie on the ring-0 stack; anything else means the guest broke its shim.
    const frame = HAS_ERROR_CODE.has(vector) ? 48 : 40;
    if (!(sp >= RING0_STACK_BOTTOM && sp + frame <= RING0_STACK_TOP)) {
      return {
        kind: "error",
        code: "ESHIMFAULT",
        message: `exception ${vector} with a bad ring-0 stack 0x${sp.toString(16)}`,
      };
    }
    let errorCode = 0;
    if (HAS_ERROR_CODE.has(vector)) {
      errorCode = Number(mem.getBigUint64(sp, true) & 0xffffffffn);
      sp += 8;
    }
    const rip = mem.getBigUint64(sp, true);
    const cs = Number(mem.getBigUint64(sp + 8, true) & 0xffffn);
    const rflags = mem.getBigUint64(sp + 16, true);
    const rsp = mem.getBigUint64(sp + 24, true);
    if ((cs & 3) !== 3) {
      return {
        kind: "error",
        code: "ESHIMFAULT",
        message: `exception ${vector} in the ring-0 shim at 0x${rip.toString(16)} (error code ${errorCode})`,
      };
    }
    w[RIP] = rip;
    w[RSP] = rsp;
    w[RFLAGS] = BigInt((Number(rflags & 0xffffffffn) & USER_FLAGS_MASK) | RFLAGS_FIXED);
    return errorCode;
  }

  /** An exception from ring 3: restore the user context from the ring-0 frame, then serve it. */
  #onException(server: SyscallServer, vector: number): RunResult | undefined {
    const errorCode = this.#popFrame(vector);
    if (typeof errorCode !== "number") return errorCode;
    if (vector === 6) {
      // These machines' nested KVM raises #UD for `int n` (cd nn) from ring 3 except int3
      // and into; `int n` is never #UD on Linux, so give what Linux's IDT gives.
      const bytes = this.guestMemory.regions()[0].bytes;
      const rip = Number(this.#w[RIP]);
      if (rip >= 0 && rip + 2 <= bytes.length && bytes[rip] === 0xcd) {
        const n = bytes[rip + 1];
        if (n === 0x80) {
          this.#w[RIP] += 2n;
          return this.#int80();
        }
        // Linux's only other DPL-3 gates: #BP and #OF, reported after the instruction.
        if (n === 3 || n === 4) {
          this.#w[RIP] += 2n;
          return this.#serveFault(server, n, 0, 0);
        }
        return this.#serveFault(server, 13, (n << 3) | 2, 0);
      }
    }
    if (vector === 14 && isStringPortInsn(this.guestMemory.regions()[0].bytes, Number(this.#w[RIP]))) {
      // KVM emulates ins/outs on the open port and faults on the memory operand; the CPU
      // (Linux) checks the port first: #GP.
      return this.#serveFault(server, 13, 0, 0);
    }
    const address = vector === 14 ? Number(this.#runView.getBigUint64(SREGS + 232, true)) : 0;
    return this.#serveFault(server, vector, errorCode, address);
  }

  /**
   * `int 0x80`: Linux with IA32 emulation (as on the machines this is
   * measured on) runs a 32-bit system call there; the sandbox serves no i386
   * ABI, so every number is -ENOSYS, as Linux answers a number it lacks.
   */
  #onInt80(): RunResult | undefined {
    const r = this.#popFrame(0x80);
    if (typeof r !== "number") return r;
    return this.#int80();
  }

  #int80(): undefined {
    this.#w[RAX] = BigInt.asUintN(64, BigInt(-ENOSYS));
    this.#resumeUser();
    return undefined;
  }

  #serveFault(server: SyscallServer, vector: number, errorCode: number, address: number): RunResult | undefined {
    this.faults++;
    const f = this.#fault;
    f.vector = vector;
    f.errorCode = errorCode;
    f.address = address;
    const outcome = this.#outcome;
    outcome.resume = Resume.Registers;
    server.onFault(this, f, outcome);
    if ((outcome.resume as Resume) === Resume.Exit) return { kind: "exited" };
    this.#resumeUser();
    return undefined;
  }

  /**
   * Port I/O by program code (any port but the shim's own `out`s): Linux
   * gives #GP there, so this is a #GP at the instruction with no effect. KVM
   * completes an access on the next KVM_RUN (an `in` writes rax, `ins` writes
   * memory, a `rep` form goes on): finish it now without running the guest
   * (immediate_exit), the `rep` forms cut to the chunk KVM holds, then put the
   * registers, the bytes `ins` stored and the vCPU's pending events back.
   */
  #onProgramIo(server: SyscallServer): RunResult | undefined {
    const w = this.#w;
    const rv = this.#runView;
    const bytes = this.guestMemory.regions()[0].bytes;
    const saved = w.slice(0, 18);
    const exitCount = rv.getUint32(R.exit + 4, true);
    const exit = {
      out: rv.getUint8(R.exit) === KVM_EXIT_IO_OUT,
      size: rv.getUint8(R.exit + 1),
      port: rv.getUint16(R.exit + 2, true),
      dx: Number(w[RDX] & 0xffffn),
    };
    const stored: Array<[number, Uint8Array]> = [];
    for (let round = 0; ; round++) {
      if (round === 8) {
        return { kind: "error", code: "EPORTIO", message: "a port I/O access did not complete" };
      }
      const size = rv.getUint8(R.exit + 1);
      const count = rv.getUint32(R.exit + 4, true);
      if (rv.getUint8(R.exit) !== KVM_EXIT_IO_OUT) {
        const n = size * count;
        const rdi = Number(w[RDI]);
        const down = (Number(w[RFLAGS] & 0xffffffffn) & RFLAGS_DF) !== 0;
        const from = Math.max(0, down ? rdi - n + size : rdi);
        const to = Math.min(bytes.length, down ? rdi + size : rdi + n);
        if (Number.isSafeInteger(rdi) && from < to) stored.push([from, bytes.slice(from, to)]);
      }
      w[RCX] = BigInt(count);
      this.#vcpu.setSyncDirtyRegs(KVM_SYNC_X86_REGS);
      this.#run[R.immediate_exit] = 1;
      const reason = this.#vcpu.runRaw();
      if (reason !== ExitReason.Io) break;
    }
    this.#run[R.immediate_exit] = 0;
    for (let i = stored.length - 1; i >= 0; i--) bytes.set(stored[i][1], stored[i][0]);
    // KVM reports rip at the instruction when the access still had to complete (the
    // completion then moved it), else (an `out` on these machines) just past it.
    const moved = w[RIP] !== saved[RIP];
    w.set(saved);
    if (!moved) {
      // KVM finished the access before the exit (an `out` here; any `outs`, one element per
      // exit): rip may be past the instruction, and `outs` has moved rsi (and rcx for rep).
      const rip = Number(saved[RIP]);
      const here = portInsnAt(bytes, rip, exit);
      const unfinishedRep = here?.rep === true && saved[RCX] !== 0n;
      const back = unfinishedRep ? 0 : portInsnEndingAt(bytes, rip, exit);
      const insn = back > 0 ? portInsnAt(bytes, rip - back, exit) : here;
      w[RIP] -= BigInt(back);
      if (insn?.string && exit.out) {
        const n = BigInt(exit.size * exitCount);
        const down = (Number(saved[RFLAGS] & 0xffffffffn) & RFLAGS_DF) !== 0;
        w[RSI] = BigInt.asUintN(64, down ? saved[RSI] + n : saved[RSI] - n);
        if (insn.rep) w[RCX] = BigInt.asUintN(64, saved[RCX] + BigInt(exitCount));
      }
    }
    w[RFLAGS] |= RFLAGS_RF; // as the CPU pushes it with a fault
    const events = this.#vcpu.getVcpuEvents();
    if (events.exception.injected || events.exception.pending) {
      // What the completion raised (a fault on the `ins` store) is not Linux's answer: #GP is.
      events.exception = { injected: 0, nr: 0, has_error_code: 0, pending: 0, error_code: 0 };
      this.#vcpu.setVcpuEvents(events);
    }
    return this.#serveFault(server, 13, 0, 0);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#vcpu.close();
    this.#vm.close();
    if (this.#ownsKvm) this.#kvm.close();
    this.guestMemory.close();
  }
}
