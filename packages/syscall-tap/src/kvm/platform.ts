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
import { CLOCK_MONOTONIC, CLOCK_THREAD_CPUTIME_ID, kick, native, ThreadTimer } from "@kindling/sys-util";
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
  RING0_STACK_BOTTOM,
  RING0_STACK_TOP,
  SEL_USER_CS,
  SEL_USER_DS,
  SHIM_ADDR,
  SPURIOUS_PORT,
  SYSCALL_PORT,
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
const _RAX = 0;
const RCX = 2;
const RSP = 6;
const R11 = 11;
const RIP = 16;
const RFLAGS = 17;
/** Argument registers: rdi, rsi, rdx, r10, r8, r9. */
const ARG_REG = [5, 4, 3, 10, 8, 9];
/** Flags a program may set (Linux's FIX_EFLAGS): CF PF AF ZF SF TF DF OF AC ID; never IOPL or VM. */
const USER_FLAGS_MASK = 0x254dd5;
const RFLAGS_FIXED = 0x202; // bit 1 and IF

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
      if (reason === ExitReason.Io && rv.getUint8(R.exit) === 1) {
        const port = rv.getUint16(R.exit + 2, true);
        if (port === SYSCALL_PORT) {
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
        if (port >= EXCEPTION_PORT_BASE && port < EXCEPTION_PORT_BASE + 32) {
          const r = this.#onFault(server, port - EXCEPTION_PORT_BASE);
          if (r !== undefined) return r;
          continue;
        }
        if (port === SPURIOUS_PORT) {
          return { kind: "error", code: "ESPURIOUS", message: "the guest took an unexpected interrupt" };
        }
        return { kind: "error", code: "EPORT", message: `unexpected port write 0x${port.toString(16)}` };
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

  /** An exception from ring 3: restore the user context from the ring-0 frame, then serve it. */
  #onFault(server: SyscallServer, vector: number): RunResult | undefined {
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
    this.faults++;
    const f = this.#fault;
    f.vector = vector;
    f.errorCode = errorCode;
    f.address = vector === 14 ? Number(this.#runView.getBigUint64(SREGS + 232, true)) : 0;
    const outcome = this.#outcome;
    outcome.resume = Resume.Registers;
    server.onFault(this, f, outcome);
    if ((outcome.resume as Resume) === Resume.Exit) return { kind: "exited" };
    this.#resumeUser();
    return undefined;
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
