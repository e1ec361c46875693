/**
 * Signals: dispositions, masks, pending signals, and delivery to the
 * program's handlers with an x86-64 Linux `struct rt_sigframe`
 * (arch/x86/kernel/signal.c, signal_64.c; uapi asm/sigcontext.h, asm/ucontext.h).
 *
 * Frame layout (offsets from the frame start, which is the handler's rsp):
 *   0    pretcode (sa_restorer: the handler's return address)
 *   8    struct ucontext: uc_flags 8, uc_link 8, uc_stack 24, uc_mcontext
 *        (struct sigcontext, 256 bytes) at +40, uc_sigmask at +296 (304 bytes)
 *   312  struct siginfo (128 bytes)
 *   440  end; the FPU/extended state lies above, 64-byte aligned, pointed to by
 *        uc_mcontext.fpstate.
 */
import { syscallRaw } from "@kindling/sys-util/unsafe";
import { type FaultEvent, type Registers, Resume, type TaskControl } from "@kindling/syscall-tap";
import type { Outcome } from "./dispatch.js";
import { EINTR, ERESTARTSYS } from "./errno.js";
import type { Libos, Task } from "./kernel.js";

export const SIGHUP = 1;
export const SIGINT = 2;
export const SIGQUIT = 3;
export const SIGILL = 4;
export const SIGTRAP = 5;
export const SIGABRT = 6;
export const SIGBUS = 7;
export const SIGFPE = 8;
export const SIGKILL = 9;
export const SIGUSR1 = 10;
export const SIGSEGV = 11;
export const SIGUSR2 = 12;
export const SIGPIPE = 13;
export const SIGALRM = 14;
export const SIGTERM = 15;
export const SIGSTKFLT = 16;
export const SIGCHLD = 17;
export const SIGCONT = 18;
export const SIGSTOP = 19;
export const SIGTSTP = 20;
export const SIGTTIN = 21;
export const SIGTTOU = 22;
export const SIGURG = 23;
export const SIGXCPU = 24;
export const SIGXFSZ = 25;
export const SIGVTALRM = 26;
export const SIGPROF = 27;
export const SIGWINCH = 28;
export const SIGIO = 29;
export const SIGPWR = 30;
export const SIGSYS = 31;
export const SIGRTMIN = 32;
export const NSIG = 64;

export const SIG_DFL = 0n;
export const SIG_IGN = 1n;

export const SA_NOCLDSTOP = 0x1;
export const SA_NOCLDWAIT = 0x2;
export const SA_SIGINFO = 0x4;
export const SA_UNSUPPORTED = 0x400;
export const SA_EXPOSE_TAGBITS = 0x800;
export const SA_RESTORER = 0x04000000;
export const SA_ONSTACK = 0x08000000;
export const SA_RESTART = 0x10000000;
export const SA_NODEFER = 0x40000000;
export const SA_RESETHAND = 0x80000000;
/** Flags the kernel keeps (UAPI_SA_FLAGS on x86): unknown bits read back as 0. */
export const SA_KNOWN =
  SA_NOCLDSTOP |
  SA_NOCLDWAIT |
  SA_SIGINFO |
  SA_ONSTACK |
  SA_RESTART |
  SA_NODEFER |
  SA_RESETHAND |
  SA_EXPOSE_TAGBITS |
  SA_RESTORER;

export const SIG_BLOCK = 0;
export const SIG_UNBLOCK = 1;
export const SIG_SETMASK = 2;

export const SS_ONSTACK = 1;
export const SS_DISABLE = 2;
export const SS_AUTODISARM = 0x80000000;
export const MINSIGSTKSZ = 2048;

// si_code values
export const SI_USER = 0;
export const SI_KERNEL = 0x80;
export const SI_TKILL = -6;
export const ILL_ILLOPN = 2;
export const FPE_INTDIV = 1;
export const FPE_FLTINV = 7;
export const SEGV_MAPERR = 1;
export const SEGV_ACCERR = 2;
export const BUS_ADRALN = 1;
export const TRAP_BRKPT = 1;
export const TRAP_TRACE = 2;

export const UC_FP_XSTATE = 0x1;
export const UC_SIGCONTEXT_SS = 0x2;
export const UC_STRICT_RESTORE_SS = 0x4;
export const FP_XSTATE_MAGIC1 = 0x46505853;
export const FP_XSTATE_MAGIC2 = 0x46505845;

export const FRAME_SIZE = 440;
export const UC_OFFSET = 8;
export const MCONTEXT_OFFSET = UC_OFFSET + 40;
export const SIGMASK_OFFSET = UC_OFFSET + 296;
export const SIGINFO_OFFSET = 312;

/** Order of the general registers in struct sigcontext_64. */
const SIGCONTEXT_REGS = [
  "r8",
  "r9",
  "r10",
  "r11",
  "r12",
  "r13",
  "r14",
  "r15",
  "rdi",
  "rsi",
  "rbp",
  "rbx",
  "rdx",
  "rax",
  "rcx",
  "rsp",
  "rip",
  "rflags",
] as const satisfies readonly (keyof Registers)[];

/** The flags rt_sigreturn takes from the frame (FIX_EFLAGS): CF PF AF ZF SF TF DF OF RF AC. */
const FIX_EFLAGS = 0x1n | 0x4n | 0x10n | 0x40n | 0x80n | 0x100n | 0x400n | 0x800n | 0x10000n | 0x40000n;
const EFLAGS_BASE = 0x202n; // IF and the always-one bit
const U64 = 0xffff_ffff_ffff_ffffn;
/** Signals that cannot be caught, blocked or ignored. */
export const UNBLOCKABLE = (1n << BigInt(SIGKILL - 1)) | (1n << BigInt(SIGSTOP - 1));

export const sigbit = (sig: number): bigint => 1n << BigInt(sig - 1);

export type DefaultAction = "term" | "core" | "ignore" | "stop";

export function defaultAction(sig: number): DefaultAction {
  switch (sig) {
    case SIGQUIT:
    case SIGILL:
    case SIGTRAP:
    case SIGABRT:
    case SIGBUS:
    case SIGFPE:
    case SIGSEGV:
    case SIGXCPU:
    case SIGXFSZ:
    case SIGSYS:
      return "core";
    case SIGCHLD:
    case SIGURG:
    case SIGWINCH:
    case SIGCONT:
      return "ignore";
    case SIGSTOP:
    case SIGTSTP:
    case SIGTTIN:
    case SIGTTOU:
      return "stop";
    default:
      return "term";
  }
}

export interface SigAction {
  handler: bigint;
  flags: number;
  restorer: bigint;
  mask: bigint;
}

/** What a siginfo says; written into the frame at delivery. */
export interface SigInfo {
  signo: number;
  code: number;
  /** si_addr for faults. */
  addr?: number;
  /** si_pid / si_uid for kill and tgkill. */
  pid?: number;
  uid?: number;
  /** For the sigcontext: trap number, error code, cr2. */
  trapno?: number;
  err?: number;
  cr2?: number;
}

/** The process's signal state (dispositions and process-wide pending set). */
export class SignalState {
  readonly actions: SigAction[] = [];
  /** Pending signals (bit n-1 for signal n) and their siginfo. */
  pending = 0n;
  readonly info: (SigInfo | undefined)[] = new Array(NSIG + 1).fill(undefined);
  /** True when some pending signal is not blocked by the task's mask: checked on every syscall return. */
  deliverable = false;
  /**
   * Signals a thread other than the running one was chosen for (woken for them, or
   * not yet run): Linux's complete_signal picks one thread and wakes only it, so
   * no other thread takes them meanwhile. Tasks with a claim, and their union.
   */
  private readonly claimants = new Set<Task>();
  private claimed = 0n;
  /**
   * Set by the cooperative scheduler (threads.ts): chooses the thread for a
   * signal the running task `cur` raised (`target` for a thread-directed one)
   * and wakes it when it waits. Absent with one thread.
   */
  route: ((cur: Task, sig: number, target: Task | undefined) => void) | undefined;

  constructor() {
    for (let i = 0; i <= NSIG; i++) this.actions.push({ handler: SIG_DFL, flags: 0, restorer: 0n, mask: 0n });
  }

  /** Whether signal `sig` would be discarded at generation (ignored and not blocked-with-default-ignore). */
  isIgnored(sig: number): boolean {
    const a = this.actions[sig];
    if (a.handler === SIG_IGN) return true;
    return a.handler === SIG_DFL && (defaultAction(sig) === "ignore" || defaultAction(sig) === "stop");
  }

  /** The pending signals `task` may take now: not blocked by it, not chosen for another thread. */
  readyFor(task: Task): bigint {
    return this.pending & ~task.sigmask & ~(this.claimed & ~task.claim);
  }

  update(task: Task): void {
    this.deliverable = this.readyFor(task) !== 0n;
  }

  /** Reserves the signals `bits` for `task` (see `claimants`). */
  claim(task: Task, bits: bigint): void {
    task.claim |= bits;
    this.claimants.add(task);
    this.claimed |= bits;
  }

  /** `task` runs now (or has ended): its claims end; it takes them itself when it runs. */
  release(task: Task): void {
    if (task.claim === 0n) return;
    task.claim = 0n;
    this.claimants.delete(task);
    let all = 0n;
    for (const x of this.claimants) all |= x.claim;
    this.claimed = all;
  }

  /**
   * Generates signal `sig`: for the process (kill, timers) or, with `target`, for
   * one thread (tgkill, tkill, SIGPIPE). `task` is the running task.
   */
  raise(task: Task, sig: number, info: SigInfo, target?: Task): void {
    // Blocked signals are never ignored at generation: the disposition may change before they are unblocked.
    if (this.isIgnored(sig) && ((target ?? task).sigmask & sigbit(sig)) === 0n) return;
    this.pending |= sigbit(sig);
    this.info[sig] = info;
    this.route?.(task, sig, target);
    this.update(task);
  }

  /**
   * Whether a task woken from a wait by a signal should execute its call again
   * rather than return -EINTR, decided when it runs: when no signal it takes
   * then runs a handler (another thread took it, or it is ignored now), as Linux
   * restarts a call no handler interrupted; and, for a `restartable` wait (a
   * pipe's, -ERESTARTSYS in Linux), when the handler that runs has SA_RESTART.
   * The registers then point at `syscall` again, which the handler's frame saves.
   */
  restartsWait(task: Task, restartable: boolean): boolean {
    const ready = this.readyFor(task);
    for (let sig = 1; sig <= NSIG; sig++) {
      if ((ready & sigbit(sig)) === 0n) continue;
      const act = this.actions[sig];
      if (act.handler === SIG_IGN) continue;
      if (act.handler !== SIG_DFL) return restartable && (act.flags & SA_RESTART) !== 0;
      const d = defaultAction(sig);
      if (d !== "ignore" && d !== "stop") return false; // it ends the process
    }
    return true;
  }

  /** Drops pending instances of `sig` (after its disposition became "ignore"). */
  discard(task: Task, sig: number): void {
    this.pending &= ~sigbit(sig);
    this.info[sig] = undefined;
    this.update(task);
  }

  /**
   * Delivers the lowest pending unblocked signal at the end of a system call:
   * `ret` is the call's result (saved as rax in the frame when `out.resume` is
   * Return). Returns the value for rax.
   */
  deliverPending(k: Libos, t: TaskControl, ret: number, out: Outcome): number {
    const task = k.task(t);
    const tid = hostTid(t);
    if (tid >= 0) {
      // The host kernel delivers this task's signals (seccomp): hand them over; it
      // delivers them when the task returns from this call, with its own masks.
      for (let sig = 1; sig <= NSIG; sig++) {
        if ((this.pending & sigbit(sig)) === 0n) continue;
        syscallRaw(SYS_tkill, tid, sig);
        this.info[sig] = undefined;
      }
      this.pending = 0n;
      this.update(task);
      return ret;
    }
    while (!k.exited) {
      const ready = this.readyFor(task);
      if (ready === 0n) break;
      let sig = 1;
      while ((ready & sigbit(sig)) === 0n) sig++;
      const info = this.info[sig] ?? { signo: sig, code: SI_KERNEL };
      this.pending &= ~sigbit(sig);
      this.info[sig] = undefined;
      const act = this.actions[sig];
      if (act.handler === SIG_IGN) continue;
      if (act.handler === SIG_DFL) {
        const d = defaultAction(sig);
        if (d === "ignore" || d === "stop") continue;
        k.killBy(sig, out);
        break;
      }
      const regs = t.getRegisters();
      if (out.resume === Resume.Return) {
        // Interrupting a system call's return: the program resumes after `syscall`
        // (rcx) with the flags it had (r11), and rax holds the call's result. This is
        // the user-visible state on every platform, whatever rip reads inside the call.
        regs.rip = regs.rcx;
        regs.rflags = regs.r11;
        if (ret === -ERESTARTSYS && (act.flags & SA_RESTART) !== 0) {
          // SA_RESTART: after the handler the program executes `syscall` again (rax
          // still holds the call's number; the arguments are untouched).
          regs.rip = BigInt.asUintN(64, regs.rcx - 2n);
        } else {
          regs.rax = BigInt.asUintN(64, BigInt(ret === -ERESTARTSYS ? -EINTR : ret));
        }
      }
      if (!setupFrame(k, t, task, sig, act, info, regs)) {
        k.killBy(SIGSEGV, out);
        break;
      }
      out.resume = Resume.Registers;
      break;
    }
    if (ret === -ERESTARTSYS && out.resume === Resume.Return) restartSyscall(t, out);
    if (task.savedMask !== undefined) {
      // No handler ran after rt_sigsuspend: its temporary mask ends here.
      task.sigmask = task.savedMask;
      task.savedMask = undefined;
    }
    this.update(task);
    return ret;
  }

  /** A CPU exception: a signal to the handler, or the end of the process. */
  deliverFault(k: Libos, t: TaskControl, ev: FaultEvent, out: Outcome): void {
    const task = k.task(t);
    const regs = t.getRegisters();
    const info = faultSignal(ev, regs);
    // A page fault on an address no mapping covers is SEGV_MAPERR, whatever the page
    // tables said (the platform's own pages are not the program's address space).
    if (ev.vector === 14 && k.mm.find(ev.address) === undefined) info.code = SEGV_MAPERR;
    this.force(k, t, task, info, regs, out);
  }

  /**
   * force_sig_info: a synchronous signal that cannot be blocked or ignored
   * (when it is, its disposition is reset to the default and it is unblocked).
   */
  force(k: Libos, t: TaskControl, task: Task, info: SigInfo, regs: Registers, out: Outcome): void {
    const sig = info.signo;
    const act = this.actions[sig];
    const bit = sigbit(sig);
    if (act.handler === SIG_IGN || (task.sigmask & bit) !== 0n) {
      act.handler = SIG_DFL;
      task.sigmask &= ~bit;
    }
    if (act.handler === SIG_DFL) {
      k.killBy(sig, out);
      return;
    }
    if (!setupFrame(k, t, task, sig, act, info, regs)) {
      k.killBy(SIGSEGV, out);
      return;
    }
    out.resume = Resume.Registers;
    this.update(task);
  }
}

const SYS_tkill = 200;

/**
 * The host thread id of a task whose signals the host kernel delivers (a
 * platform task with `nativeSignals` and a numeric `pid`, as on the seccomp
 * platform), else -1.
 */
export function hostTid(t: TaskControl): number {
  const x = t as TaskControl & { nativeSignals?: boolean; pid?: number };
  return x.nativeSignals === true && typeof x.pid === "number" && x.pid > 0 ? x.pid : -1;
}

/**
 * The same task's thread id as the program knows it (the numbers it passes to
 * kill/tgkill and gets from set_tid_address): its id in its own pid namespace
 * (`nsTid`; a jailed seccomp child is pid 2), else the host's; -1 where the
 * host kernel does not own the task.
 */
export function programTid(t: TaskControl): number {
  const host = hostTid(t);
  if (host < 0) return -1;
  const ns = (t as TaskControl & { nsTid?: number }).nsTid;
  return typeof ns === "number" && ns > 0 ? ns : host;
}

/** The process id the program knows for itself (`nsTgid`), or -1 when the platform does not say. */
export function programTgid(t: TaskControl): number {
  if (hostTid(t) < 0) return -1;
  const ns = (t as TaskControl & { nsTgid?: number }).nsTgid;
  return typeof ns === "number" && ns > 0 ? ns : -1;
}

/**
 * -ERESTARTSYS with no handler to run (Linux's arch_do_signal_or_restart): the
 * program executes the interrupted `syscall` again.
 */
export function restartSyscall(t: TaskControl, out: Outcome): void {
  const regs = t.getRegisters();
  regs.rip = BigInt.asUintN(64, regs.rcx - 2n);
  regs.rflags = regs.r11;
  t.setRegisters(regs);
  out.resume = Resume.Registers;
}

/** Maps a CPU exception to its signal as Linux's trap handlers do (arch/x86/kernel/traps.c, fault.c). */
export function faultSignal(ev: FaultEvent, regs: Registers): SigInfo {
  const rip = Number(regs.rip & 0xffff_ffff_ffffn);
  const base = { trapno: ev.vector, err: ev.errorCode, cr2: 0 };
  switch (ev.vector) {
    case 0: // #DE
      return { ...base, signo: SIGFPE, code: FPE_INTDIV, addr: rip };
    case 3: // #BP
      return { ...base, signo: SIGTRAP, code: SI_KERNEL, addr: 0 };
    case 1: // #DB: send_sigtrap with the user rip; a single step (TF in the frame) is TRAP_TRACE
      return { ...base, signo: SIGTRAP, code: (regs.rflags & 0x100n) !== 0n ? TRAP_TRACE : TRAP_BRKPT, addr: rip };
    case 6: // #UD
      return { ...base, signo: SIGILL, code: ILL_ILLOPN, addr: rip };
    case 16: // #MF
    case 19: // #XM
      return { ...base, signo: SIGFPE, code: FPE_FLTINV, addr: rip };
    case 11: // #NP
    case 12: // #SS
      return { ...base, signo: SIGBUS, code: SI_KERNEL, addr: 0 };
    case 17: // #AC
      return { ...base, signo: SIGBUS, code: BUS_ADRALN, addr: ev.address };
    case 14: // #PF: error code bit 0 set = protection violation on a present page
      return {
        ...base,
        cr2: ev.address,
        signo: SIGSEGV,
        code: ev.errorCode & 1 ? SEGV_ACCERR : SEGV_MAPERR,
        addr: ev.address,
      };
    default: // #GP (13), #OF, #BR, #TS ...: SIGSEGV with SI_KERNEL and no address
      return { ...base, signo: SIGSEGV, code: SI_KERNEL, addr: 0 };
  }
}

/**
 * The bytes of an XSAVE image the frame needs: the legacy area and header plus
 * AVX when only x87/SSE/AVX are in use (XSTATE_BV within bits 0-2, standard
 * format), else the whole image (offsets of later components vary by CPU).
 */
export function xstateFrameSize(fp: Uint8Array): number {
  if (fp.length < 832) return fp.length;
  const dv = new DataView(fp.buffer, fp.byteOffset, fp.byteLength);
  const xstateBv = dv.getBigUint64(512, true);
  const xcompBv = dv.getBigUint64(520, true);
  if ((xcompBv & (1n << 63n)) !== 0n || (xstateBv & ~7n) !== 0n) return fp.length;
  return 832; // 512 legacy + 64 header + 256 AVX (YMM_Hi128 at 576)
}

function onAltStack(task: Task, sp: number): boolean {
  return task.altSize !== 0 && sp > task.altSp && sp - task.altSp <= task.altSize;
}

/** sas_ss_flags(): the ss_flags sigaltstack and uc_stack report. */
export function altStackFlags(task: Task, sp: number): number {
  if (task.altSize === 0 || (task.altFlags & SS_DISABLE) !== 0) return SS_DISABLE;
  return (onAltStack(task, sp) ? SS_ONSTACK : 0) | (task.altFlags & SS_AUTODISARM);
}

/**
 * Writes an rt_sigframe for `sig` and points the registers at the handler.
 * Returns false when the frame cannot be written (the caller kills with SIGSEGV).
 */
export function setupFrame(
  _k: Libos,
  t: TaskControl,
  task: Task,
  sig: number,
  act: SigAction,
  info: SigInfo,
  regs: Registers,
): boolean {
  if ((act.flags & SA_RESTORER) === 0) return false; // x86-64 requires a restorer
  const handler = act.handler; // before SA_RESETHAND resets it
  const mem = t.memory;
  const userSp = Number(regs.rsp & 0xffff_ffff_ffff_ffffn);
  let sp = userSp;
  const altFlags = altStackFlags(task, userSp);
  if ((act.flags & SA_ONSTACK) !== 0 && (altFlags & (SS_DISABLE | SS_ONSTACK)) === 0) {
    sp = task.altSp + task.altSize;
  } else {
    sp -= 128; // the red zone
  }
  let fp: Uint8Array;
  try {
    fp = t.getExtendedState();
  } catch {
    return false;
  }
  const xsave = fp.length > 512;
  const xsize = xsave ? xstateFrameSize(fp) : fp.length;
  const fpSize = xsize + (xsave ? 4 : 0);
  const fpAddr = Math.floor((sp - fpSize) / 64) * 64;
  const frame = Math.floor((fpAddr - FRAME_SIZE) / 16) * 16 - 8;
  if (!(frame > 0) || !Number.isSafeInteger(frame)) return false;

  const buf = new Uint8Array(FRAME_SIZE);
  const dv = new DataView(buf.buffer);
  const u64 = (off: number, v: bigint) => dv.setBigUint64(off, BigInt.asUintN(64, v), true);
  u64(0, act.restorer);
  // ucontext
  u64(UC_OFFSET, BigInt(UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS | (xsave ? UC_FP_XSTATE : 0)));
  u64(UC_OFFSET + 8, 0n);
  u64(UC_OFFSET + 16, BigInt(task.altSp));
  dv.setUint32(UC_OFFSET + 24, task.altSize === 0 ? SS_DISABLE : altFlags >>> 0, true);
  u64(UC_OFFSET + 32, BigInt(task.altSize));
  // sigcontext
  for (let i = 0; i < SIGCONTEXT_REGS.length; i++) u64(MCONTEXT_OFFSET + i * 8, regs[SIGCONTEXT_REGS[i]]);
  dv.setUint16(MCONTEXT_OFFSET + 144, 0x33, true); // cs: __USER_CS
  dv.setUint16(MCONTEXT_OFFSET + 150, 0x2b, true); // ss: __USER_DS
  u64(MCONTEXT_OFFSET + 152, BigInt(info.err ?? 0));
  u64(MCONTEXT_OFFSET + 160, BigInt(info.trapno ?? 0));
  const savedMask = task.savedMask ?? task.sigmask;
  task.savedMask = undefined;
  u64(MCONTEXT_OFFSET + 168, savedMask & 0xffff_ffffn);
  u64(MCONTEXT_OFFSET + 176, BigInt(info.cr2 ?? 0));
  u64(MCONTEXT_OFFSET + 184, BigInt(fpAddr));
  u64(SIGMASK_OFFSET, savedMask);
  // siginfo
  dv.setInt32(SIGINFO_OFFSET, sig, true);
  dv.setInt32(SIGINFO_OFFSET + 4, 0, true);
  dv.setInt32(SIGINFO_OFFSET + 8, info.code, true);
  if (info.pid !== undefined) {
    dv.setInt32(SIGINFO_OFFSET + 16, info.pid, true);
    dv.setUint32(SIGINFO_OFFSET + 20, info.uid ?? 0, true);
  } else if (info.addr !== undefined) {
    u64(SIGINFO_OFFSET + 16, BigInt(info.addr));
  }
  // extended state
  const fpBuf = new Uint8Array(fpSize);
  fpBuf.set(fp.subarray(0, xsize));
  if (xsave) {
    const fdv = new DataView(fpBuf.buffer);
    // struct _fpx_sw_bytes in the FXSAVE area's software-reserved bytes (464..511).
    fdv.setUint32(464, FP_XSTATE_MAGIC1, true);
    fdv.setUint32(468, xsize + 4, true); // extended_size
    fdv.setBigUint64(472, xsize >= 520 ? fdv.getBigUint64(512, true) : 3n, true); // xfeatures = XSTATE_BV
    fdv.setUint32(480, xsize, true); // xstate_size
    for (let off = 484; off < 512; off += 4) fdv.setUint32(off, 0, true);
    fdv.setUint32(xsize, FP_XSTATE_MAGIC2, true);
  }
  try {
    mem.write(fpAddr, fpBuf);
    mem.write(frame, buf);
  } catch {
    return false;
  }

  // The handler runs with the action's mask added (and the signal itself unless SA_NODEFER).
  let mask = task.sigmask | act.mask;
  if ((act.flags & SA_NODEFER) === 0) mask |= sigbit(sig);
  task.sigmask = mask & ~UNBLOCKABLE;
  if ((act.flags & SA_ONSTACK) !== 0 && (task.altFlags & SS_AUTODISARM) !== 0 && sp === task.altSp + task.altSize) {
    task.altSp = 0;
    task.altSize = 0;
    task.altFlags = SS_DISABLE;
  }
  if ((act.flags & SA_RESETHAND) !== 0) {
    act.handler = SIG_DFL;
    act.flags &= ~SA_SIGINFO;
  }
  const out: Registers = { ...regs };
  out.rip = handler;
  out.rsp = BigInt(frame);
  out.rdi = BigInt(sig);
  out.rsi = BigInt(frame + SIGINFO_OFFSET);
  out.rdx = BigInt(frame + UC_OFFSET);
  out.rax = 0n;
  out.rflags = regs.rflags & ~(0x400n | 0x100n | 0x10000n) & U64;
  t.setRegisters(out);
  return true;
}

/**
 * rt_sigreturn: restores the registers, mask, alternate stack and extended
 * state saved by setupFrame. Returns false when the frame is unreadable or
 * its state is rejected (the caller kills with SIGSEGV).
 */
export function restoreFrame(k: Libos, t: TaskControl, task: Task): boolean {
  const regsNow = t.getRegisters();
  const frame = Number(regsNow.rsp & 0xffff_ffff_ffff_ffffn) - 8;
  let buf: Uint8Array;
  try {
    buf = t.memory.read(frame, FRAME_SIZE);
  } catch {
    return false;
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const regs: Registers = { ...regsNow };
  for (let i = 0; i < SIGCONTEXT_REGS.length; i++) {
    regs[SIGCONTEXT_REGS[i]] = dv.getBigUint64(MCONTEXT_OFFSET + i * 8, true);
  }
  regs.rflags = (regs.rflags & FIX_EFLAGS) | EFLAGS_BASE;
  const fpAddr = Number(dv.getBigUint64(MCONTEXT_OFFSET + 184, true) & 0xffff_ffff_ffffn);
  const fpHigh = dv.getBigUint64(MCONTEXT_OFFSET + 184, true) >> 48n;
  if (fpHigh !== 0n) return false;
  if (fpAddr !== 0) {
    try {
      const state = t.getExtendedState();
      // How much the frame holds: fpx_sw_bytes.xstate_size when its magic is
      // there, else the legacy FXSAVE image only. The rest keeps the current state.
      let size = Math.min(512, state.length);
      if (state.length > 512 && t.memory.readU32(fpAddr + 464) === FP_XSTATE_MAGIC1) {
        const xs = t.memory.readU32(fpAddr + 480);
        if (xs >= 576 && xs <= state.length) size = xs;
      }
      state.set(t.memory.read(fpAddr, size));
      // The software-reserved bytes are the kernel's, not state: clear them.
      if (state.length > 512) state.fill(0, 464, 512);
      t.setExtendedState(state);
    } catch {
      return false;
    }
  }
  task.sigmask = dv.getBigUint64(SIGMASK_OFFSET, true) & ~UNBLOCKABLE;
  // restore_altstack: like sigaltstack(&uc_stack), errors ignored.
  const ssSp = Number(dv.getBigUint64(UC_OFFSET + 16, true) & 0xffff_ffff_ffffn);
  const ssFlags = dv.getUint32(UC_OFFSET + 24, true);
  const ssSize = Number(dv.getBigUint64(UC_OFFSET + 32, true) & 0xffff_ffff_ffffn);
  const newSp = Number(regs.rsp & 0xffff_ffff_ffffn);
  if (!onAltStack(task, newSp)) {
    const mode = ssFlags & ~SS_AUTODISARM;
    if (mode === SS_DISABLE) {
      task.altSp = 0;
      task.altSize = 0;
      task.altFlags = SS_DISABLE;
    } else if ((mode === 0 || mode === SS_ONSTACK) && ssSize >= MINSIGSTKSZ) {
      task.altSp = ssSp;
      task.altSize = ssSize;
      task.altFlags = ssFlags & SS_AUTODISARM;
    }
  }
  t.setRegisters(regs);
  k.signals.update(task);
  return true;
}
