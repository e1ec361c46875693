import { O_CLOEXEC, O_RDWR, open } from "@kindling/sys-util";
import { Cap, Ioctl, KVM_API_VERSION } from "./constants.js";
import { KvmFdBase } from "./fd.js";
import { type KvmCpuidEntry2, type KvmMsrEntry, kvm_cpuid_entry2, kvm_msr_entry } from "./structs.js";
import { VmFd } from "./vm.js";

/** The maximum entries KVM_GET_SUPPORTED_CPUID may return (rust-vmm's KVM_MAX_CPUID_ENTRIES). */
export const KVM_MAX_CPUID_ENTRIES = 256;
const MAX_MSR_ENTRIES = 256;

export class KvmError extends Error {
  override readonly name = "KvmError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A CPUID table (kvm_cpuid2): entries to read, edit and pass to a vCPU. */
export class CpuId {
  constructor(readonly entries: KvmCpuidEntry2[]) {}

  /** The kvm_cpuid2 buffer (header + entries). */
  toBytes(): Uint8Array {
    const b = new Uint8Array(8 + this.entries.length * kvm_cpuid_entry2.size);
    const v = new DataView(b.buffer);
    v.setUint32(0, this.entries.length, true);
    this.entries.forEach((e, i) => kvm_cpuid_entry2.encode(e, v, 8 + i * kvm_cpuid_entry2.size));
    return b;
  }

  static fromBytes(b: Uint8Array): CpuId {
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const n = v.getUint32(0, true);
    const max = Math.floor((b.byteLength - 8) / kvm_cpuid_entry2.size);
    const entries: KvmCpuidEntry2[] = [];
    for (let i = 0; i < Math.min(n, max); i++) entries.push(kvm_cpuid_entry2.decode(v, 8 + i * kvm_cpuid_entry2.size));
    return new CpuId(entries);
  }

  /** An empty buffer with room for `n` entries (for GET ioctls). */
  static buffer(n: number): Uint8Array {
    const b = new Uint8Array(8 + n * kvm_cpuid_entry2.size);
    new DataView(b.buffer).setUint32(0, n, true);
    return b;
  }

  find(fn: number, index = 0): KvmCpuidEntry2 | undefined {
    return this.entries.find((e) => e.function === fn && e.index === index);
  }
}

/** Encodes kvm_msrs with the given entries. */
export function encodeMsrs(entries: readonly KvmMsrEntry[]): Uint8Array {
  const b = new Uint8Array(8 + entries.length * kvm_msr_entry.size);
  const v = new DataView(b.buffer);
  v.setUint32(0, entries.length, true);
  entries.forEach((e, i) => kvm_msr_entry.encode(e, v, 8 + i * kvm_msr_entry.size));
  return b;
}

/** Decodes the first `n` entries of a kvm_msrs buffer. */
export function decodeMsrs(b: Uint8Array, n: number): KvmMsrEntry[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: KvmMsrEntry[] = [];
  for (let i = 0; i < n; i++) out.push(kvm_msr_entry.decode(v, 8 + i * kvm_msr_entry.size));
  return out;
}

/** The KVM system fd (/dev/kvm). */
export class Kvm extends KvmFdBase {
  /** Opens /dev/kvm (or `path`) and checks the API version. */
  static open(path = "/dev/kvm", cloexec = true): Kvm {
    const kvm = new Kvm(open(path, O_RDWR | (cloexec ? O_CLOEXEC : 0)));
    const v = kvm.apiVersion();
    if (v !== KVM_API_VERSION) {
      kvm.close();
      throw new KvmError("EKVMVERSION", `KVM API version ${v}, expected ${KVM_API_VERSION}`);
    }
    return kvm;
  }

  /** Wraps an already-open /dev/kvm fd (ownership moves to this object). */
  static fromFd(fd: number): Kvm {
    return new Kvm(fd);
  }

  /** True when /dev/kvm exists and can be opened read/write. */
  static isAvailable(path = "/dev/kvm"): boolean {
    try {
      Kvm.open(path).close();
      return true;
    } catch {
      return false;
    }
  }

  apiVersion(): number {
    return this.ioctl("KVM_GET_API_VERSION", Ioctl.KVM_GET_API_VERSION);
  }

  /** KVM_CHECK_EXTENSION: 0 when unsupported, else a capability-specific positive value. */
  checkExtension(cap: Cap | number): number {
    return this.ioctl("KVM_CHECK_EXTENSION", Ioctl.KVM_CHECK_EXTENSION, cap);
  }

  vcpuMmapSize(): number {
    return this.ioctl("KVM_GET_VCPU_MMAP_SIZE", Ioctl.KVM_GET_VCPU_MMAP_SIZE);
  }

  /** Recommended number of vCPUs (KVM_CAP_NR_VCPUS, 4 when not reported). */
  nrVcpus(): number {
    return this.checkExtension(Cap.NrVcpus) || 4;
  }

  /** Maximum number of vCPUs (KVM_CAP_MAX_VCPUS, else nrVcpus). */
  maxVcpus(): number {
    return this.checkExtension(Cap.MaxVcpus) || this.nrVcpus();
  }

  /** Number of memory slots (KVM_CAP_NR_MEMSLOTS, 32 when not reported). */
  nrMemslots(): number {
    return this.checkExtension(Cap.NrMemslots) || 32;
  }

  supportedCpuid(maxEntries = KVM_MAX_CPUID_ENTRIES): CpuId {
    const b = CpuId.buffer(maxEntries);
    this.ioctl("KVM_GET_SUPPORTED_CPUID", Ioctl.KVM_GET_SUPPORTED_CPUID, b);
    return CpuId.fromBytes(b);
  }

  emulatedCpuid(maxEntries = KVM_MAX_CPUID_ENTRIES): CpuId {
    const b = CpuId.buffer(maxEntries);
    this.ioctl("KVM_GET_EMULATED_CPUID", Ioctl.KVM_GET_EMULATED_CPUID, b);
    return CpuId.fromBytes(b);
  }

  #msrList(name: string, request: number): number[] {
    const b = new Uint8Array(4 + MAX_MSR_ENTRIES * 4);
    const v = new DataView(b.buffer);
    v.setUint32(0, MAX_MSR_ENTRIES, true);
    this.ioctl(name, request, b);
    const n = v.getUint32(0, true);
    return Array.from({ length: n }, (_, i) => v.getUint32(4 + i * 4, true));
  }

  /** MSRs a vCPU can save and restore. */
  msrIndexList(): number[] {
    return this.#msrList("KVM_GET_MSR_INDEX_LIST", Ioctl.KVM_GET_MSR_INDEX_LIST);
  }

  /** Feature MSRs readable with getMsrs on the system fd. */
  msrFeatureIndexList(): number[] {
    return this.#msrList("KVM_GET_MSR_FEATURE_INDEX_LIST", Ioctl.KVM_GET_MSR_FEATURE_INDEX_LIST);
  }

  /** Reads feature MSRs (KVM_GET_MSRS on the system fd); returns the entries read. */
  getMsrs(indices: readonly number[]): KvmMsrEntry[] {
    const b = encodeMsrs(indices.map((index) => ({ index, reserved: 0, data: 0n })));
    const n = this.ioctl("KVM_GET_MSRS", Ioctl.KVM_GET_MSRS, b);
    return decodeMsrs(b, n);
  }

  /** KVM_CREATE_VM (machine type 0). */
  createVm(type = 0): VmFd {
    const fd = this.ioctl("KVM_CREATE_VM", Ioctl.KVM_CREATE_VM, type);
    return new VmFd(fd, this.vcpuMmapSize());
  }
}
