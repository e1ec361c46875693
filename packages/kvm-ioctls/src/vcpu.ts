import { gettid, kick, type MmapRegion, SysError } from "@kindling/sys-util";
import { native } from "@kindling/sys-util/unsafe";
import {
  ExitReason,
  Ioctl,
  KVM_EXIT_IO_OUT,
  KVM_SYNC_X86_EVENTS,
  KVM_SYNC_X86_REGS,
  KVM_SYNC_X86_SREGS,
} from "./constants.js";
import type { VcpuExit } from "./exit.js";
import { KvmFdBase } from "./fd.js";
import { CpuId, decodeMsrs, encodeMsrs, KVM_MAX_CPUID_ENTRIES } from "./kvm.js";
import {
  type KvmDebugregs,
  type KvmFpu,
  type KvmGuestDebug,
  type KvmLapicState,
  type KvmMsrEntry,
  type KvmRegs,
  type KvmSregs,
  type KvmTranslation,
  type KvmVcpuEvents,
  type KvmXcrs,
  kvm_debugregs,
  kvm_fpu,
  kvm_guest_debug,
  kvm_lapic_state,
  kvm_mp_state,
  kvm_regs,
  kvm_sregs,
  kvm_translation,
  kvm_vcpu_events,
  kvm_xcrs,
  kvm_xsave,
  KVM_RUN_OFFSETS as R,
} from "./structs.js";

const EINTR = 4;
const EAGAIN = 11;

/** A vCPU fd and its mmapped kvm_run. */
export class VcpuFd extends KvmFdBase {
  readonly id: number;
  readonly #run: MmapRegion;
  /** A DataView over kvm_run, for VMMs that decode exits themselves. */
  readonly runView: DataView;
  readonly #u8: Uint8Array<ArrayBuffer>;
  /** The sync-regs kvm_regs as 18 little-endian u64 (rax … rip, rflags), aliasing kvm_run. */
  readonly syncRegsWords: BigUint64Array;
  /** The same registers as 36 u32 halves (lo, hi) for allocation-free access from numbers. */
  readonly syncRegsHalves: Uint32Array;
  readonly #views = new Map<number, Uint8Array<ArrayBuffer>>();
  readonly #exits = {
    io: {
      kind: "IoOut" as "IoIn" | "IoOut",
      port: 0,
      size: 0,
      count: 0,
      data: new Uint8Array(0) as Uint8Array<ArrayBuffer>,
    },
    mmio: {
      kind: "MmioRead" as "MmioRead" | "MmioWrite",
      address: 0,
      data: new Uint8Array(0) as Uint8Array<ArrayBuffer>,
    },
    hlt: { kind: "Hlt" as const },
    shutdown: { kind: "Shutdown" as const },
    intr: { kind: "Intr" as const },
    irqWindow: { kind: "IrqWindowOpen" as const },
  };

  constructor(fd: number, id: number, run: MmapRegion) {
    super(fd);
    this.id = id;
    this.#run = run;
    this.runView = new DataView(run.buffer);
    this.#u8 = new Uint8Array(run.buffer);
    this.syncRegsWords = new BigUint64Array(run.buffer, R.sync_regs_regs, 18);
    this.syncRegsHalves = new Uint32Array(run.buffer, R.sync_regs_regs, 36);
  }

  /** The kvm_run mapping (for kick targets and custom decoding). */
  get runBuffer(): ArrayBuffer {
    return this.#run.buffer;
  }

  override close(): void {
    if (!this.closed) {
      if (this.#run.mapped) this.#run.unmap();
      super.close();
    }
  }

  // ------------------------------------------------------------- run

  /** KVM_RUN with no decoding: the exit reason, or -errno (EINTR for a kick). */
  runRaw(): number {
    const r = native().ioctlRun(this.fd);
    if (r < 0) return r;
    return this.runView.getUint32(R.exit_reason, true);
  }

  /** KVM_RUN, decoded. A kick (EINTR) is `{kind: "Intr"}`; other failures throw SysError. */
  run(): VcpuExit {
    const r = native().ioctlRun(this.fd);
    if (r < 0) {
      if (r === -EINTR || r === -EAGAIN) {
        this.#u8[R.immediate_exit] = 0;
        return this.#exits.intr;
      }
      throw new SysError("KVM_RUN", -r);
    }
    return this.decodeExit();
  }

  /** Decodes the exit currently described by kvm_run. */
  decodeExit(): VcpuExit {
    const v = this.runView;
    const reason = v.getUint32(R.exit_reason, true);
    const x = R.exit;
    switch (reason) {
      case ExitReason.Io: {
        const e = this.#exits.io;
        e.kind = v.getUint8(x) === KVM_EXIT_IO_OUT ? "IoOut" : "IoIn";
        e.size = v.getUint8(x + 1);
        e.port = v.getUint16(x + 2, true);
        e.count = v.getUint32(x + 4, true);
        e.data = this.#view(Number(v.getBigUint64(x + 8, true)), e.size * e.count);
        return e;
      }
      case ExitReason.Mmio: {
        const e = this.#exits.mmio;
        e.address = Number(v.getBigUint64(x, true));
        const len = Math.min(v.getUint32(x + 16, true), 8);
        e.kind = v.getUint8(x + 20) ? "MmioWrite" : "MmioRead";
        e.data = this.#view(x + 8, len);
        return e;
      }
      case ExitReason.Hlt:
        return this.#exits.hlt;
      case ExitReason.Shutdown:
        return this.#exits.shutdown;
      case ExitReason.Intr:
        return this.#exits.intr;
      case ExitReason.IrqWindowOpen:
        return this.#exits.irqWindow;
      case ExitReason.FailEntry:
        return {
          kind: "FailEntry",
          hardwareEntryFailureReason: v.getBigUint64(x, true),
          cpu: v.getUint32(x + 8, true),
        };
      case ExitReason.InternalError: {
        const ndata = Math.min(v.getUint32(x + 4, true), 16);
        const data = Array.from({ length: ndata }, (_, i) => v.getBigUint64(x + 8 + i * 8, true));
        return { kind: "InternalError", suberror: v.getUint32(x, true), data };
      }
      case ExitReason.SystemEvent: {
        const ndata = Math.min(Number(v.getBigUint64(x + 8, true)), 16);
        const data = Array.from({ length: ndata }, (_, i) => v.getBigUint64(x + 16 + i * 8, true));
        return { kind: "SystemEvent", type: v.getUint32(x, true), flags: v.getBigUint64(x + 8, true), data };
      }
      case ExitReason.Debug:
        return {
          kind: "Debug",
          exception: v.getUint32(x, true),
          pc: v.getBigUint64(x + 8, true),
          dr6: v.getBigUint64(x + 16, true),
          dr7: v.getBigUint64(x + 24, true),
        };
      case ExitReason.Hypercall:
        return {
          kind: "Hypercall",
          nr: v.getBigUint64(x, true),
          args: Array.from({ length: 6 }, (_, i) => v.getBigUint64(x + 8 + i * 8, true)),
          ret: v.getBigUint64(x + 56, true),
        };
      case ExitReason.X86Rdmsr:
        return { kind: "X86Rdmsr", reason: v.getUint32(x + 4, true), index: v.getUint32(x + 8, true) };
      case ExitReason.X86Wrmsr:
        return {
          kind: "X86Wrmsr",
          reason: v.getUint32(x + 4, true),
          index: v.getUint32(x + 8, true),
          data: v.getBigUint64(x + 16, true),
        };
      default:
        return { kind: "Unsupported", reason };
    }
  }

  /** Completes an X86Rdmsr exit: the value the guest reads, or a #GP when `error`. */
  completeRdmsr(data: bigint, error = false): void {
    this.runView.setUint8(R.exit, error ? 1 : 0);
    this.runView.setBigUint64(R.exit + 16, data, true);
  }

  /** Completes an X86Wrmsr exit (`error` injects #GP). */
  completeWrmsr(error = false): void {
    this.runView.setUint8(R.exit, error ? 1 : 0);
  }

  #view(offset: number, len: number): Uint8Array<ArrayBuffer> {
    if (offset < 0 || len < 0 || offset + len > this.#u8.length) {
      throw new SysError("KVM_RUN", 14, `exit data at ${offset}+${len} outside kvm_run`);
    }
    const key = offset * 65536 + len;
    let v = this.#views.get(key);
    if (v === undefined) {
      v = this.#u8.subarray(offset, offset + len);
      if (this.#views.size < 64) this.#views.set(key, v);
    }
    return v;
  }

  /** kvm_run.immediate_exit: when set, the next KVM_RUN returns EINTR at once. */
  setKvmImmediateExit(value: boolean): void {
    this.#u8[R.immediate_exit] = value ? 1 : 0;
  }

  /** Registers this vCPU as the kick target of the calling thread (the one that calls run()). */
  makeKickable(): { tid: number; signal: number } {
    kick.setTarget(this.#run.buffer);
    return { tid: gettid(), signal: kick.signal() };
  }

  /** Kicks thread `tid` (from makeKickable) out of run(): it returns `{kind: "Intr"}`. */
  static kick(tid: number): void {
    kick.thread(tid);
  }

  // ------------------------------------------------------------- sync regs

  /** Which register sets KVM copies into kvm_run on every exit (KVM_CAP_SYNC_REGS). */
  setSyncValidRegs(mask = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS): void {
    this.runView.setBigUint64(R.kvm_valid_regs, BigInt(mask), true);
  }

  /** Marks register sets in kvm_run as changed so KVM loads them on the next run. */
  setSyncDirtyRegs(mask: number): void {
    // The flags live in the low word; no bigint on this hot path.
    const v = this.runView;
    v.setUint32(R.kvm_dirty_regs, v.getUint32(R.kvm_dirty_regs, true) | mask, true);
  }

  syncRegs(): KvmRegs {
    return kvm_regs.decode(this.runView, R.sync_regs_regs);
  }

  setSyncRegs(regs: KvmRegs): void {
    kvm_regs.encode(regs, this.runView, R.sync_regs_regs);
    this.setSyncDirtyRegs(KVM_SYNC_X86_REGS);
  }

  syncSregs(): KvmSregs {
    return kvm_sregs.decode(this.runView, R.sync_regs_sregs);
  }

  setSyncSregs(sregs: KvmSregs): void {
    kvm_sregs.encode(sregs, this.runView, R.sync_regs_sregs);
    this.setSyncDirtyRegs(KVM_SYNC_X86_SREGS);
  }

  syncEvents(): KvmVcpuEvents {
    return kvm_vcpu_events.decode(this.runView, R.sync_regs_events);
  }

  setSyncEvents(events: KvmVcpuEvents): void {
    kvm_vcpu_events.encode(events, this.runView, R.sync_regs_events);
    this.setSyncDirtyRegs(KVM_SYNC_X86_EVENTS);
  }

  // ------------------------------------------------------------- state ioctls

  #get<T extends object>(name: string, req: number, codec: { size: number; fromBytes(b: Uint8Array): T }): T {
    const b = new Uint8Array(codec.size);
    this.ioctl(name, req, b);
    return codec.fromBytes(b);
  }

  getRegs(): KvmRegs {
    return this.#get("KVM_GET_REGS", Ioctl.KVM_GET_REGS, kvm_regs);
  }
  setRegs(regs: KvmRegs): void {
    this.ioctl("KVM_SET_REGS", Ioctl.KVM_SET_REGS, kvm_regs.toBytes(regs));
  }
  getSregs(): KvmSregs {
    return this.#get("KVM_GET_SREGS", Ioctl.KVM_GET_SREGS, kvm_sregs);
  }
  setSregs(sregs: KvmSregs): void {
    this.ioctl("KVM_SET_SREGS", Ioctl.KVM_SET_SREGS, kvm_sregs.toBytes(sregs));
  }
  getFpu(): KvmFpu {
    return this.#get("KVM_GET_FPU", Ioctl.KVM_GET_FPU, kvm_fpu);
  }
  setFpu(fpu: KvmFpu): void {
    this.ioctl("KVM_SET_FPU", Ioctl.KVM_SET_FPU, kvm_fpu.toBytes(fpu));
  }
  setCpuid2(cpuid: CpuId): void {
    this.ioctl("KVM_SET_CPUID2", Ioctl.KVM_SET_CPUID2, cpuid.toBytes());
  }
  getCpuid2(maxEntries = KVM_MAX_CPUID_ENTRIES): CpuId {
    const b = CpuId.buffer(maxEntries);
    this.ioctl("KVM_GET_CPUID2", Ioctl.KVM_GET_CPUID2, b);
    return CpuId.fromBytes(b);
  }
  getLapic(): KvmLapicState {
    return this.#get("KVM_GET_LAPIC", Ioctl.KVM_GET_LAPIC, kvm_lapic_state);
  }
  setLapic(lapic: KvmLapicState): void {
    this.ioctl("KVM_SET_LAPIC", Ioctl.KVM_SET_LAPIC, kvm_lapic_state.toBytes(lapic));
  }
  /** KVM_GET_MSRS for `indices`; returns the entries KVM read (it stops at the first it cannot). */
  getMsrs(indices: readonly number[]): KvmMsrEntry[] {
    const b = encodeMsrs(indices.map((index) => ({ index, reserved: 0, data: 0n })));
    const n = this.ioctl("KVM_GET_MSRS", Ioctl.KVM_GET_MSRS, b);
    return decodeMsrs(b, n);
  }
  /** KVM_SET_MSRS; returns how many were set. */
  setMsrs(entries: readonly KvmMsrEntry[]): number {
    return this.ioctl("KVM_SET_MSRS", Ioctl.KVM_SET_MSRS, encodeMsrs(entries));
  }
  getMpState(): number {
    return this.#get("KVM_GET_MP_STATE", Ioctl.KVM_GET_MP_STATE, kvm_mp_state).mp_state;
  }
  setMpState(state: number): void {
    this.ioctl("KVM_SET_MP_STATE", Ioctl.KVM_SET_MP_STATE, kvm_mp_state.toBytes({ mp_state: state }));
  }
  getXsave(): Uint8Array {
    return this.#get("KVM_GET_XSAVE", Ioctl.KVM_GET_XSAVE, kvm_xsave).region;
  }
  setXsave(region: Uint8Array): void {
    this.ioctl("KVM_SET_XSAVE", Ioctl.KVM_SET_XSAVE, kvm_xsave.toBytes({ region }));
  }
  getXcrs(): KvmXcrs {
    return this.#get("KVM_GET_XCRS", Ioctl.KVM_GET_XCRS, kvm_xcrs);
  }
  setXcrs(xcrs: KvmXcrs): void {
    this.ioctl("KVM_SET_XCRS", Ioctl.KVM_SET_XCRS, kvm_xcrs.toBytes(xcrs));
  }
  getDebugRegs(): KvmDebugregs {
    return this.#get("KVM_GET_DEBUGREGS", Ioctl.KVM_GET_DEBUGREGS, kvm_debugregs);
  }
  setDebugRegs(regs: KvmDebugregs): void {
    this.ioctl("KVM_SET_DEBUGREGS", Ioctl.KVM_SET_DEBUGREGS, kvm_debugregs.toBytes(regs));
  }
  getVcpuEvents(): KvmVcpuEvents {
    return this.#get("KVM_GET_VCPU_EVENTS", Ioctl.KVM_GET_VCPU_EVENTS, kvm_vcpu_events);
  }
  setVcpuEvents(events: KvmVcpuEvents): void {
    this.ioctl("KVM_SET_VCPU_EVENTS", Ioctl.KVM_SET_VCPU_EVENTS, kvm_vcpu_events.toBytes(events));
  }
  setGuestDebug(debug: KvmGuestDebug): void {
    this.ioctl("KVM_SET_GUEST_DEBUG", Ioctl.KVM_SET_GUEST_DEBUG, kvm_guest_debug.toBytes(debug));
  }
  /** KVM_TRANSLATE: a guest virtual address through the vCPU's current page tables. */
  translateGva(gva: bigint): KvmTranslation {
    const b = kvm_translation.toBytes({
      linear_address: gva,
      physical_address: 0n,
      valid: 0,
      writeable: 0,
      usermode: 0,
      pad: new Uint8Array(0),
    });
    this.ioctl("KVM_TRANSLATE", Ioctl.KVM_TRANSLATE, b);
    return kvm_translation.fromBytes(b);
  }
  kvmclockCtrl(): void {
    this.ioctl("KVM_KVMCLOCK_CTRL", Ioctl.KVM_KVMCLOCK_CTRL);
  }
  getTscKhz(): number {
    return this.ioctl("KVM_GET_TSC_KHZ", Ioctl.KVM_GET_TSC_KHZ);
  }
  setTscKhz(khz: number): void {
    this.ioctl("KVM_SET_TSC_KHZ", Ioctl.KVM_SET_TSC_KHZ, khz);
  }
  smi(): void {
    this.ioctl("KVM_SMI", Ioctl.KVM_SMI);
  }
  nmi(): void {
    this.ioctl("KVM_NMI", Ioctl.KVM_NMI);
  }
  /** KVM_INTERRUPT: queues an external interrupt (userspace irqchip only). */
  interrupt(vector: number): void {
    this.ioctl("KVM_INTERRUPT", Ioctl.KVM_INTERRUPT, new Uint32Array([vector]));
  }
}
