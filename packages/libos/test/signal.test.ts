import {
  FRAME_SIZE,
  MCONTEXT_OFFSET,
  SA_NODEFER,
  SA_ONSTACK,
  SA_RESETHAND,
  SA_RESTORER,
  SA_SIGINFO,
  SIGINFO_OFFSET,
  SIGMASK_OFFSET,
  UC_OFFSET,
} from "@kindling/libos";
import { Resume } from "@kindling/syscall-tap";
import { describe, expect, it } from "vitest";
import { SCRATCH, STACK_TOP, setup } from "./core-setup.js";

const EINVAL = -22;
const ESRCH = -3;
const EPERM = -1;
const ENOMEM = -12;
const EINTR = -4;
const SIGUSR1 = 10;
const SIGSEGV = 11;
const SIGTERM = 15;
const HANDLER = 0x401000n;
const RESTORER = 0x401100n;
const ACT = SCRATCH;
const OACT = SCRATCH + 64;
const SET = SCRATCH + 128;

type S = ReturnType<typeof setup>;

function sigaction(s: S, sig: number, handler: bigint, flags: number, mask = 0n): number {
  s.mem.writeBigU64(ACT, handler);
  s.mem.writeBigU64(ACT + 8, BigInt(flags >>> 0));
  s.mem.writeBigU64(ACT + 16, RESTORER);
  s.mem.writeBigU64(ACT + 24, mask);
  return s.h.call("rt_sigaction", sig, ACT, 0, 8);
}

function sigmask(s: S, how: number, mask: bigint): number {
  s.mem.writeBigU64(SET, mask);
  return s.h.call("rt_sigprocmask", how, SET, 0, 8);
}

/** Reads a saved register from the frame's sigcontext by its index in struct sigcontext_64. */
function saved(s: S, frame: number, index: number): bigint {
  return s.mem.readBigU64(frame + MCONTEXT_OFFSET + index * 8);
}
const RAX = 13;
const RSP = 15;
const RIP = 16;

function program(s: S) {
  // As inside a system call: rcx holds the return address and r11 the flags (what `syscall` saved).
  s.h.task.regs = {
    ...s.h.task.regs,
    rip: 0x400500n,
    rcx: 0x400500n,
    r11: 0x246n,
    rsp: BigInt(STACK_TOP),
    rbx: 0x1234n,
    r15: 0xf15n,
  };
}

/** What the handler's `ret` does: jump to the restorer, which calls rt_sigreturn with rsp past pretcode. */
function returnFromHandler(s: S): number {
  const frame = Number(s.h.task.regs.rsp);
  s.h.task.regs.rsp = BigInt(frame + 8);
  s.h.task.regs.rip = RESTORER;
  return s.h.call("rt_sigreturn");
}

describe("rt_sigaction and rt_sigprocmask", () => {
  it("round-trips actions and masks unknown flags and unblockable signals", () => {
    const s = setup();
    expect(sigaction(s, SIGUSR1, HANDLER, SA_RESTORER | SA_SIGINFO | 0x200, (1n << 8n) | 0xffn)).toBe(0);
    expect(s.h.call("rt_sigaction", SIGUSR1, 0, OACT, 8)).toBe(0);
    expect(s.mem.readBigU64(OACT)).toBe(HANDLER);
    expect(s.mem.readBigU64(OACT + 8)).toBe(BigInt(SA_RESTORER | SA_SIGINFO));
    expect(s.mem.readBigU64(OACT + 16)).toBe(RESTORER);
    expect(s.mem.readBigU64(OACT + 24)).toBe(0xffn); // SIGKILL (bit 8) removed
  });
  it("rejects bad signals, sizes and SIGKILL/SIGSTOP changes", () => {
    const s = setup();
    expect(s.h.call("rt_sigaction", 0, 0, OACT, 8)).toBe(EINVAL);
    expect(s.h.call("rt_sigaction", 65, 0, OACT, 8)).toBe(EINVAL);
    expect(s.h.call("rt_sigaction", SIGUSR1, 0, OACT, 4)).toBe(EINVAL);
    expect(sigaction(s, 9, HANDLER, SA_RESTORER)).toBe(EINVAL);
    expect(sigaction(s, 19, HANDLER, SA_RESTORER)).toBe(EINVAL);
    expect(s.h.call("rt_sigaction", 9, 0, OACT, 8)).toBe(0);
    expect(s.h.call("rt_sigaction", SIGUSR1, 8, 0, 8)).toBe(-14);
  });
  it("blocks, unblocks and reports the old mask; SIGKILL and SIGSTOP stay unblocked", () => {
    const s = setup();
    expect(sigmask(s, 0, 0xffff_ffff_ffff_ffffn)).toBe(0);
    expect(s.h.call("rt_sigprocmask", 1, 0, OACT, 8)).toBe(0);
    expect(s.mem.readBigU64(OACT)).toBe(0xffff_ffff_ffff_ffffn & ~((1n << 8n) | (1n << 18n)));
    expect(sigmask(s, 1, 0xffn)).toBe(0);
    expect(sigmask(s, 2, 1n)).toBe(0);
    expect(s.k.task(s.h.task).sigmask).toBe(1n);
    expect(sigmask(s, 7, 1n)).toBe(EINVAL);
    expect(s.h.call("rt_sigprocmask", 0, SET, 0, 16)).toBe(EINVAL);
  });
});

describe("kill and tgkill to self", () => {
  it("a default-terminating signal ends the process with 128+N", () => {
    const s = setup();
    expect(s.h.call("kill", 100, SIGTERM)).toBe(0);
    expect(s.h.resume).toBe(Resume.Exit);
    expect(s.k.termSignal).toBe(SIGTERM);
    expect(s.k.shellStatus).toBe(143);
  });
  it("ignored and default-ignored signals are dropped", () => {
    const s = setup();
    sigaction(s, SIGTERM, 1n, 0);
    expect(s.h.call("kill", 0, SIGTERM)).toBe(0);
    expect(s.h.call("tgkill", 100, 100, 17)).toBe(0); // SIGCHLD
    expect(s.h.resume).toBe(Resume.Return);
    expect(s.k.exited).toBe(false);
  });
  it("validates targets and numbers", () => {
    const s = setup();
    expect(s.h.call("kill", 5, 0)).toBe(ESRCH);
    expect(s.h.call("kill", -1, SIGTERM)).toBe(ESRCH);
    expect(s.h.call("kill", 100, 65)).toBe(EINVAL);
    expect(s.h.call("kill", 100, 0)).toBe(0);
    expect(s.h.call("tgkill", 0, 100, 1)).toBe(EINVAL);
    expect(s.h.call("tgkill", 100, 101, 1)).toBe(ESRCH);
    expect(s.h.call("tkill", 101, 1)).toBe(ESRCH);
    expect(s.k.exited).toBe(false);
  });
  it("runs the handler with a Linux rt_sigframe and rt_sigreturn restores everything", () => {
    const s = setup();
    program(s);
    expect(sigaction(s, SIGUSR1, HANDLER, SA_RESTORER | SA_SIGINFO, 1n << 1n)).toBe(0);
    const before = { ...s.h.task.regs };
    expect(s.h.call("tgkill", 100, 100, SIGUSR1)).toBe(0);
    expect(s.h.resume).toBe(Resume.Registers);
    const r = s.h.task.regs;
    const frame = Number(r.rsp);
    expect(frame % 16).toBe(8); // as after a call: (rsp + 8) is 16-byte aligned
    expect(frame + FRAME_SIZE).toBeLessThanOrEqual(STACK_TOP - 128); // below the red zone
    expect(r.rip).toBe(HANDLER);
    expect(r.rdi).toBe(BigInt(SIGUSR1));
    expect(r.rsi).toBe(BigInt(frame + SIGINFO_OFFSET));
    expect(r.rdx).toBe(BigInt(frame + UC_OFFSET));
    expect(s.mem.readBigU64(frame)).toBe(RESTORER);
    expect(saved(s, frame, RIP)).toBe(0x400500n);
    expect(saved(s, frame, RSP)).toBe(BigInt(STACK_TOP));
    expect(saved(s, frame, RAX)).toBe(0n); // tgkill's result
    expect(s.mem.i32(frame + SIGINFO_OFFSET)).toBe(SIGUSR1);
    expect(s.mem.i32(frame + SIGINFO_OFFSET + 8)).toBe(-6); // SI_TKILL
    expect(s.mem.i32(frame + SIGINFO_OFFSET + 16)).toBe(100);
    expect(s.mem.readBigU64(frame + SIGMASK_OFFSET)).toBe(0n);
    const fpstate = s.mem.readU64(frame + MCONTEXT_OFFSET + 184);
    expect(fpstate % 64).toBe(0);
    expect(fpstate).toBeGreaterThanOrEqual(frame + FRAME_SIZE);
    // While the handler runs, its signal and sa_mask are blocked.
    expect(s.k.task(s.h.task).sigmask).toBe((1n << 9n) | (1n << 1n));
    // The handler clobbers registers, then returns.
    s.h.task.regs.rbx = 0n;
    s.h.task.regs.rax = 77n;
    returnFromHandler(s);
    expect(s.h.resume).toBe(Resume.Registers);
    expect(s.h.task.regs).toEqual({ ...before, rax: 0n, rflags: 0x246n });
    expect(s.k.task(s.h.task).sigmask).toBe(0n);
  });
  it("a blocked signal stays pending until unblocked, then interrupts that syscall's return", () => {
    const s = setup();
    program(s);
    sigaction(s, SIGUSR1, HANDLER, SA_RESTORER);
    sigmask(s, 0, 1n << 9n);
    expect(s.h.call("kill", 100, SIGUSR1)).toBe(0);
    expect(s.h.resume).toBe(Resume.Return);
    s.mem.writeBigU64(SCRATCH + 300, 0n);
    expect(s.h.call("rt_sigpending", SCRATCH + 300, 8)).toBe(0);
    expect(s.mem.readBigU64(SCRATCH + 300)).toBe(1n << 9n);
    expect(sigmask(s, 1, 1n << 9n)).toBe(0);
    expect(s.h.resume).toBe(Resume.Registers);
    expect(s.h.task.regs.rip).toBe(HANDLER);
  });
  it("a signal unblocked by rt_sigreturn's restored mask is delivered right away", () => {
    const s = setup();
    program(s);
    sigaction(s, SIGUSR1, HANDLER, SA_RESTORER, 1n << 11n); // sa_mask: SIGUSR2
    sigaction(s, 12, HANDLER + 0x40n, SA_RESTORER);
    s.h.call("kill", 100, SIGUSR1);
    expect(s.h.task.regs.rip).toBe(HANDLER);
    s.h.call("kill", 100, 12); // blocked while the first handler runs
    expect(s.h.resume).toBe(Resume.Return);
    returnFromHandler(s);
    expect(s.h.resume).toBe(Resume.Registers);
    expect(s.h.task.regs.rip).toBe(HANDLER + 0x40n);
    expect(s.h.task.regs.rdi).toBe(12n);
    // Its frame returns to where the first handler would have: the program.
    const frame = Number(s.h.task.regs.rsp);
    expect(saved(s, frame, RIP)).toBe(0x400500n);
    returnFromHandler(s);
    expect(s.h.task.regs.rip).toBe(0x400500n);
    expect(s.k.task(s.h.task).sigmask).toBe(0n);
  });
  it("SA_RESETHAND resets the action, SA_NODEFER leaves the signal unblocked", () => {
    const s = setup();
    program(s);
    sigaction(s, SIGUSR1, HANDLER, SA_RESTORER | SA_RESETHAND | SA_NODEFER);
    s.h.call("kill", 100, SIGUSR1);
    expect(s.h.resume).toBe(Resume.Registers);
    expect(s.k.task(s.h.task).sigmask).toBe(0n);
    expect(s.h.task.regs.rip).toBe(HANDLER);
    expect(s.k.signals.actions[SIGUSR1].handler).toBe(0n);
  });
  it("a handler without SA_RESTORER cannot return: SIGSEGV", () => {
    const s = setup();
    program(s);
    sigaction(s, SIGUSR1, HANDLER, 0);
    s.h.call("kill", 100, SIGUSR1);
    expect(s.h.resume).toBe(Resume.Exit);
    expect(s.k.termSignal).toBe(SIGSEGV);
  });
  it("a stack outside program memory: SIGSEGV", () => {
    const s = setup();
    program(s);
    s.h.task.regs.rsp = 0x100n;
    sigaction(s, SIGUSR1, HANDLER, SA_RESTORER);
    s.h.call("kill", 100, SIGUSR1);
    expect(s.k.termSignal).toBe(SIGSEGV);
  });
  it("rt_sigreturn with a garbage frame: SIGSEGV", () => {
    const s = setup();
    s.h.task.regs.rsp = 8n;
    s.h.call("rt_sigreturn");
    expect(s.h.resume).toBe(Resume.Exit);
    expect(s.k.termSignal).toBe(SIGSEGV);
  });
});

describe("faults", () => {
  const cases: [number, number, number][] = [
    [0, 8, 136],
    [6, 4, 132],
    [13, 11, 139],
    [14, 11, 139],
    [17, 7, 135],
  ];
  for (const [vector, sig, status] of cases) {
    it(`vector ${vector} without a handler ends the program with ${status}`, () => {
      const s = setup();
      program(s);
      s.h.fault(vector, 0, 0x1234);
      expect(s.h.resume).toBe(Resume.Exit);
      expect(s.k.termSignal).toBe(sig);
      expect(s.k.shellStatus).toBe(status);
    });
  }
  it("#PF goes to a SIGSEGV handler with si_addr, si_code and the trap in the sigcontext", () => {
    const s = setup();
    program(s);
    sigaction(s, SIGSEGV, HANDLER, SA_RESTORER | SA_SIGINFO);
    s.h.fault(14, 0b110, 0xdead000);
    expect(s.h.resume).toBe(Resume.Registers);
    const frame = Number(s.h.task.regs.rsp);
    const info = frame + SIGINFO_OFFSET;
    expect(s.mem.i32(info)).toBe(SIGSEGV);
    expect(s.mem.i32(info + 8)).toBe(1); // SEGV_MAPERR
    expect(s.mem.readU64(info + 16)).toBe(0xdead000);
    expect(s.mem.readU64(frame + MCONTEXT_OFFSET + 152)).toBe(0b110); // err
    expect(s.mem.readU64(frame + MCONTEXT_OFFSET + 160)).toBe(14); // trapno
    expect(s.mem.readU64(frame + MCONTEXT_OFFSET + 176)).toBe(0xdead000); // cr2
    expect(saved(s, frame, RIP)).toBe(0x400500n);
    // A protection fault inside a mapping: SEGV_ACCERR; outside every mapping: SEGV_MAPERR.
    const s2 = setup();
    program(s2);
    sigaction(s2, SIGSEGV, HANDLER, SA_RESTORER | SA_SIGINFO);
    const m = s2.h.call("mmap", 0, 4096, 1, 0x22, -1, 0);
    s2.h.fault(14, 0b111, m + 8);
    expect(s2.mem.i32(Number(s2.h.task.regs.rsp) + SIGINFO_OFFSET + 8)).toBe(2);
    const s3 = setup();
    program(s3);
    sigaction(s3, SIGSEGV, HANDLER, SA_RESTORER | SA_SIGINFO);
    s3.h.fault(14, 0b111, 0x5000); // a present supervisor page of the platform
    expect(s3.mem.i32(Number(s3.h.task.regs.rsp) + SIGINFO_OFFSET + 8)).toBe(1);
  });
  it("#UD reports the faulting instruction; #GP has SI_KERNEL and no address", () => {
    const s = setup();
    program(s);
    sigaction(s, 4, HANDLER, SA_RESTORER | SA_SIGINFO);
    s.h.fault(6);
    let info = Number(s.h.task.regs.rsp) + SIGINFO_OFFSET;
    expect(s.mem.i32(info)).toBe(4);
    expect(s.mem.readU64(info + 16)).toBe(0x400500);
    const s2 = setup();
    program(s2);
    sigaction(s2, SIGSEGV, HANDLER, SA_RESTORER | SA_SIGINFO);
    s2.h.fault(13, 0);
    info = Number(s2.h.task.regs.rsp) + SIGINFO_OFFSET;
    expect(s2.mem.i32(info + 8)).toBe(0x80);
    expect(s2.mem.readU64(info + 16)).toBe(0);
  });
  it("a fault while its signal is blocked (a fault in its own handler) ends the program", () => {
    const s = setup();
    program(s);
    sigaction(s, SIGSEGV, HANDLER, SA_RESTORER);
    s.h.fault(14, 0, 0x10);
    expect(s.h.resume).toBe(Resume.Registers);
    s.h.fault(14, 0, 0x10);
    expect(s.h.resume).toBe(Resume.Exit);
    expect(s.k.shellStatus).toBe(139);
  });
  it("an ignored fault signal is still fatal", () => {
    const s = setup();
    program(s);
    sigaction(s, 8, 1n, 0);
    s.h.fault(0);
    expect(s.k.termSignal).toBe(8);
  });
});

describe("sigaltstack", () => {
  const ALT = 0x100000;
  const ALT_SIZE = 0x4000;
  function setAlt(s: S, sp: number, flags: number, size: number, oss = 0): number {
    s.mem.writeU64(SCRATCH + 512, sp);
    s.mem.writeU32(SCRATCH + 520, flags);
    s.mem.writeU64(SCRATCH + 528, size);
    return s.h.call("sigaltstack", SCRATCH + 512, oss);
  }
  it("sets, reports and validates", () => {
    const s = setup();
    program(s);
    expect(s.h.call("sigaltstack", 0, SCRATCH)).toBe(0);
    expect(s.mem.readU32(SCRATCH + 8)).toBe(2); // SS_DISABLE
    expect(setAlt(s, ALT, 0, 1024)).toBe(ENOMEM);
    expect(setAlt(s, ALT, 5, ALT_SIZE)).toBe(EINVAL);
    expect(setAlt(s, ALT, 0, ALT_SIZE)).toBe(0);
    expect(s.h.call("sigaltstack", 0, SCRATCH)).toBe(0);
    expect(s.mem.readU64(SCRATCH)).toBe(ALT);
    expect(s.mem.readU32(SCRATCH + 8)).toBe(0);
    expect(s.mem.readU64(SCRATCH + 16)).toBe(ALT_SIZE);
  });
  it("SA_ONSTACK handlers run on the alternate stack, which cannot change meanwhile", () => {
    const s = setup();
    program(s);
    setAlt(s, ALT, 0, ALT_SIZE);
    sigaction(s, SIGSEGV, HANDLER, SA_RESTORER | SA_ONSTACK);
    s.h.fault(14, 0, 0);
    const frame = Number(s.h.task.regs.rsp);
    expect(frame).toBeGreaterThan(ALT);
    expect(frame).toBeLessThan(ALT + ALT_SIZE);
    expect(s.mem.readU64(frame + UC_OFFSET + 16)).toBe(ALT); // uc_stack
    expect(s.h.call("sigaltstack", 0, SCRATCH)).toBe(0);
    expect(s.mem.readU32(SCRATCH + 8)).toBe(1); // SS_ONSTACK
    expect(setAlt(s, 0, 2, 0)).toBe(EPERM);
    s.h.task.regs.rsp = BigInt(frame);
    returnFromHandler(s);
    expect(s.h.task.regs.rsp).toBe(BigInt(STACK_TOP));
  });
});

describe("extended state in the frame", () => {
  it("writes an XSAVE image with the fpx_sw_bytes magic and restores what the handler changed", () => {
    const s = setup();
    program(s);
    const xs = new Uint8Array(1024).map((_, i) => i & 0xff);
    xs.fill(0, 464, 576);
    new DataView(xs.buffer).setBigUint64(512, 7n, true); // XSTATE_BV: x87, SSE, AVX
    s.h.task.xstate = xs.slice();
    sigaction(s, SIGUSR1, HANDLER, SA_RESTORER);
    s.h.call("kill", 100, SIGUSR1);
    const frame = Number(s.h.task.regs.rsp);
    expect(s.mem.readU64(frame + UC_OFFSET)).toBe(1 | 2 | 4); // UC_FP_XSTATE | SIGCONTEXT_SS | STRICT_RESTORE_SS
    const fp = s.mem.readU64(frame + MCONTEXT_OFFSET + 184);
    expect(fp % 64).toBe(0);
    // Only the legacy area, the header and AVX are in use: an 832-byte image.
    expect(s.mem.readU32(fp + 464)).toBe(0x46505853);
    expect(s.mem.readU32(fp + 468)).toBe(836);
    expect(s.mem.readBigU64(fp + 472)).toBe(7n);
    expect(s.mem.readU32(fp + 480)).toBe(832);
    expect(s.mem.readU32(fp + 832)).toBe(0x46505845);
    expect([...s.mem.read(fp + 600, 8)]).toEqual([...xs.subarray(600, 608)]);
    // The handler runs with other state, and edits xmm0 in the saved image.
    s.h.task.xstate = new Uint8Array(1024).fill(0xee);
    s.mem.fill(fp + 160, 16, 0xcc);
    returnFromHandler(s);
    expect(s.h.task.xstate[160]).toBe(0xcc);
    expect(s.h.task.xstate[100]).toBe(100);
    expect(s.h.task.xstate[700]).toBe(700 & 0xff);
    expect(s.h.task.xstate[470]).toBe(0); // software bytes are not state
    expect(s.h.task.xstate[900]).toBe(0xee); // beyond the frame's image: kept
  });
  it("saves the whole image when later components (AVX-512) are in use", () => {
    const s = setup();
    program(s);
    const xs = new Uint8Array(2048);
    new DataView(xs.buffer).setBigUint64(512, 0xe7n, true);
    s.h.task.xstate = xs;
    sigaction(s, SIGUSR1, HANDLER, SA_RESTORER);
    s.h.call("kill", 100, SIGUSR1);
    const fp = s.mem.readU64(Number(s.h.task.regs.rsp) + MCONTEXT_OFFSET + 184);
    expect(s.mem.readU32(fp + 480)).toBe(2048);
    expect(s.mem.readU32(fp + 2048)).toBe(0x46505845);
  });
  it("an FXSAVE-only platform gets a legacy frame", () => {
    const s = setup();
    program(s);
    sigaction(s, SIGUSR1, HANDLER, SA_RESTORER);
    s.h.call("kill", 100, SIGUSR1);
    const frame = Number(s.h.task.regs.rsp);
    expect(s.mem.readU64(frame + UC_OFFSET)).toBe(2 | 4);
    const fp = s.mem.readU64(frame + MCONTEXT_OFFSET + 184);
    expect(fp - (frame + FRAME_SIZE)).toBeLessThan(64 + 16);
    expect(STACK_TOP - 128 - fp).toBeLessThan(512 + 64);
  });
  it("a rejected extended state on rt_sigreturn is SIGSEGV", () => {
    const s = setup();
    program(s);
    sigaction(s, SIGUSR1, HANDLER, SA_RESTORER);
    s.h.call("kill", 100, SIGUSR1);
    s.h.task.setExtendedState = () => {
      throw new Error("KVM_SET_XSAVE: EINVAL");
    };
    returnFromHandler(s);
    expect(s.k.termSignal).toBe(SIGSEGV);
  });
});

describe("waiting for signals", () => {
  it("rt_sigsuspend runs the handler with the old mask saved in the frame", () => {
    const s = setup();
    program(s);
    sigaction(s, SIGUSR1, HANDLER, SA_RESTORER);
    sigmask(s, 0, 1n << 9n);
    s.h.call("kill", 100, SIGUSR1);
    s.mem.writeBigU64(SET, 0n);
    expect(s.h.call("rt_sigsuspend", SET, 8)).toBe(EINTR);
    expect(s.h.resume).toBe(Resume.Registers);
    const frame = Number(s.h.task.regs.rsp);
    expect(s.mem.readBigU64(frame + SIGMASK_OFFSET)).toBe(1n << 9n);
    expect(BigInt.asIntN(64, saved(s, frame, RAX))).toBe(-4n);
    returnFromHandler(s);
    expect(s.k.task(s.h.task).sigmask).toBe(1n << 9n);
  });
  it("pause and rt_sigsuspend with nothing to wait for end the process (single task)", () => {
    const s = setup();
    s.h.call("pause");
    expect(s.h.resume).toBe(Resume.Exit);
    expect(s.k.termSignal).toBe(9);
    expect(s.k.killReason).toMatch(/deadlock/);
  });
  it("rt_sigtimedwait takes a pending signal or times out", () => {
    const s = setup();
    sigmask(s, 0, 1n << 9n);
    s.h.call("kill", 100, SIGUSR1);
    s.mem.writeBigU64(SET, 1n << 9n);
    expect(s.h.call("rt_sigtimedwait", SET, SCRATCH + 600, 0, 8)).toBe(SIGUSR1);
    expect(s.mem.i32(SCRATCH + 600)).toBe(SIGUSR1);
    s.mem.writeBigU64(SCRATCH + 800, 0n);
    s.mem.writeBigU64(SCRATCH + 808, 5_000_000n);
    expect(s.h.call("rt_sigtimedwait", SET, 0, SCRATCH + 800, 8)).toBe(-11);
    expect(s.clock.slept).toEqual([5]);
  });
});

describe("platforms whose host kernel owns signals (seccomp)", () => {
  function nativeSetup(pid: number) {
    const s = setup();
    Object.assign(s.h.task, { nativeSignals: true, pid });
    return s;
  }
  it("signal state calls run natively", () => {
    const s = nativeSetup(12345);
    for (const name of [
      "rt_sigaction",
      "rt_sigprocmask",
      "sigaltstack",
      "rt_sigreturn",
      "rt_sigsuspend",
      "pause",
    ] as const) {
      s.h.call(name, 10, 0, 0, 8);
      expect(s.h.resume).toBe(Resume.Continue);
    }
    expect(s.k.exited).toBe(false);
  });
  it("kill to itself is sent to the host thread, which the host kernel signals", async () => {
    const { spawn } = await import("node:child_process");
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    const exited = new Promise<string | null>((resolve) => child.on("exit", (_code, sig) => resolve(sig)));
    const s = nativeSetup(child.pid!);
    expect(s.h.call("kill", 100, 0)).toBe(0);
    expect(s.h.call("kill", 5, SIGTERM)).toBe(ESRCH);
    expect(s.h.call("kill", 100, SIGTERM)).toBe(0);
    expect(s.h.resume).toBe(Resume.Return);
    expect(await exited).toBe("SIGTERM");
    expect(s.k.exited).toBe(false); // the platform reports the exit, not the libos
  });
  it("signals raised inside the libos (SIGPIPE) go to the host thread too", async () => {
    const { spawn } = await import("node:child_process");
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    const exited = new Promise<string | null>((resolve) => child.on("exit", (_code, sig) => resolve(sig)));
    const s = nativeSetup(child.pid!);
    s.k.table[450] = (k, t) => {
      k.signals.raise(k.task(t), 13, { signo: 13, code: 0 });
      return -32;
    };
    expect(s.h.call(450)).toBe(-32);
    expect(s.h.resume).toBe(Resume.Return);
    expect(await exited).toBe("SIGPIPE");
  });
});
