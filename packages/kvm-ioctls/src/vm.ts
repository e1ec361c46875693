import { type EventFd, isMapped, MAP_SHARED, MmapRegion, PROT_READ, PROT_WRITE, UsageError } from "@kindling/sys-util";
import { addressOf } from "@kindling/sys-util/unsafe";
import {
  type Cap,
  Ioctl,
  KVM_IOEVENTFD_FLAG_DATAMATCH,
  KVM_IOEVENTFD_FLAG_DEASSIGN,
  KVM_IOEVENTFD_FLAG_PIO,
  KVM_IRQFD_FLAG_DEASSIGN,
  KVM_IRQFD_FLAG_RESAMPLE,
} from "./constants.js";
import { KvmFdBase } from "./fd.js";
import {
  type KvmClockData,
  type KvmCreateDevice,
  type KvmDeviceAttr,
  type KvmEnableCap,
  type KvmIrqchip,
  type KvmIrqRoutingEntry,
  type KvmMsi,
  type KvmPitConfig,
  type KvmPitState2,
  type KvmUserspaceMemoryRegion,
  kvm_clock_data,
  kvm_create_device,
  kvm_device_attr,
  kvm_dirty_log,
  kvm_enable_cap,
  kvm_ioeventfd,
  kvm_irq_level,
  kvm_irq_routing_entry,
  kvm_irqchip,
  kvm_irqfd,
  kvm_msi,
  kvm_pit_config,
  kvm_pit_state2,
  kvm_userspace_memory_region,
} from "./structs.js";
import { VcpuFd } from "./vcpu.js";

/** The memory region as rust-vmm names it, in camelCase. */
export interface UserMemoryRegion {
  slot: number;
  guestPhysAddr: bigint;
  memorySize: bigint;
  userspaceAddr: bigint;
  flags?: number;
}

/** Where an ioeventfd listens: port I/O or MMIO. */
export type IoEventAddress = { pio: number } | { mmio: bigint };

/** A match on the written value, by access width. */
export type Datamatch = { u8: number } | { u16: number } | { u32: number } | { u64: bigint } | undefined;

function ioeventBytes(fd: EventFd, addr: IoEventAddress, datamatch: Datamatch, deassign: boolean): Uint8Array {
  let flags = deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0;
  let len = 0;
  let value = 0n;
  if (datamatch !== undefined) {
    flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
    if ("u8" in datamatch) [len, value] = [1, BigInt(datamatch.u8)];
    else if ("u16" in datamatch) [len, value] = [2, BigInt(datamatch.u16)];
    else if ("u32" in datamatch) [len, value] = [4, BigInt(datamatch.u32)];
    else [len, value] = [8, datamatch.u64];
  }
  if ("pio" in addr) flags |= KVM_IOEVENTFD_FLAG_PIO;
  return kvm_ioeventfd.toBytes({
    datamatch: value,
    addr: "pio" in addr ? BigInt(addr.pio) : addr.mmio,
    len,
    fd: fd.fd,
    flags,
    pad: new Uint8Array(0),
  });
}

/** A device created with KVM_CREATE_DEVICE. */
export class DeviceFd extends KvmFdBase {
  setDeviceAttr(attr: KvmDeviceAttr): void {
    this.ioctl("KVM_SET_DEVICE_ATTR", Ioctl.KVM_SET_DEVICE_ATTR, kvm_device_attr.toBytes(attr));
  }
  /** KVM_GET_DEVICE_ATTR: `attr.addr` points at the buffer to fill. */
  getDeviceAttr(attr: KvmDeviceAttr): void {
    this.ioctl("KVM_GET_DEVICE_ATTR", Ioctl.KVM_GET_DEVICE_ATTR, kvm_device_attr.toBytes(attr));
  }
  hasDeviceAttr(attr: KvmDeviceAttr): boolean {
    try {
      this.ioctl("KVM_HAS_DEVICE_ATTR", Ioctl.KVM_HAS_DEVICE_ATTR, kvm_device_attr.toBytes(attr));
      return true;
    } catch {
      return false;
    }
  }
}

/** A VM fd. */
export class VmFd extends KvmFdBase {
  readonly #runSize: number;
  /** The size of each memory slot set here: KVM_GET_DIRTY_LOG writes a bitmap of the slot's size. */
  readonly #slots = new Map<number, bigint>();
  constructor(fd: number, vcpuMmapSize: number) {
    super(fd);
    this.#runSize = vcpuMmapSize;
  }

  /**
   * KVM_SET_USER_MEMORY_REGION (size 0 deletes the slot). The host range must
   * lie inside one live MmapRegion (a UsageError otherwise): the guest reads and
   * writes it, so it must be memory this process mapped for it, not any address.
   * Keep the mapping until the slot is deleted or the VM closed.
   */
  setUserMemoryRegion(region: UserMemoryRegion): void {
    if (BigInt(region.memorySize) !== 0n && !isMapped(BigInt(region.userspaceAddr), BigInt(region.memorySize))) {
      throw new UsageError(
        "EFAULT",
        `slot ${region.slot}: host range 0x${BigInt(region.userspaceAddr).toString(16)} +0x${BigInt(region.memorySize).toString(16)} is not inside a live MmapRegion`,
      );
    }
    const raw: KvmUserspaceMemoryRegion = {
      slot: region.slot,
      flags: region.flags ?? 0,
      guest_phys_addr: region.guestPhysAddr,
      memory_size: region.memorySize,
      userspace_addr: region.userspaceAddr,
    };
    this.ioctl(
      "KVM_SET_USER_MEMORY_REGION",
      Ioctl.KVM_SET_USER_MEMORY_REGION,
      kvm_userspace_memory_region.toBytes(raw),
    );
    if (BigInt(region.memorySize) === 0n) this.#slots.delete(region.slot);
    else this.#slots.set(region.slot, BigInt(region.memorySize));
  }

  /**
   * KVM_GET_DIRTY_LOG: one bit per page of the slot (needs KVM_MEM_LOG_DIRTY_PAGES);
   * returns the bitmap as 64-bit words and clears the log.
   */
  getDirtyLog(slot: number, memorySize: number | bigint): BigUint64Array {
    // The kernel writes a bitmap of the slot's real size: a smaller buffer would be overrun.
    const size = this.#slots.get(slot);
    if (size === undefined) throw new UsageError("ENOENT", `slot ${slot} was not set with setUserMemoryRegion`);
    if (BigInt(memorySize) !== size) {
      throw new UsageError(
        "EINVAL",
        `slot ${slot} has 0x${size.toString(16)} bytes, not 0x${BigInt(memorySize).toString(16)}`,
      );
    }
    const pages = Math.ceil(Number(size) / 4096);
    const bitmap = new BigUint64Array(Math.ceil(pages / 64));
    const b = kvm_dirty_log.toBytes({ slot, padding1: 0, dirty_bitmap: 0n });
    // dirty_bitmap is a pointer: the host address of our bitmap.
    new DataView(b.buffer).setBigUint64(8, addressOf(bitmap), true);
    this.ioctl("KVM_GET_DIRTY_LOG", Ioctl.KVM_GET_DIRTY_LOG, b);
    return bitmap;
  }

  setTssAddress(addr: number): void {
    this.ioctl("KVM_SET_TSS_ADDR", Ioctl.KVM_SET_TSS_ADDR, addr);
  }

  setIdentityMapAddress(addr: bigint): void {
    const b = new BigUint64Array([addr]);
    this.ioctl("KVM_SET_IDENTITY_MAP_ADDR", Ioctl.KVM_SET_IDENTITY_MAP_ADDR, b);
  }

  createIrqChip(): void {
    this.ioctl("KVM_CREATE_IRQCHIP", Ioctl.KVM_CREATE_IRQCHIP);
  }

  /** KVM_GET_IRQCHIP for chip `chipId` (PIC master 0, slave 1, IOAPIC 2). */
  getIrqchip(chipId: number): KvmIrqchip {
    const b = kvm_irqchip.toBytes({ chip_id: chipId, pad: 0, chip: new Uint8Array(0) });
    this.ioctl("KVM_GET_IRQCHIP", Ioctl.KVM_GET_IRQCHIP, b);
    return kvm_irqchip.fromBytes(b);
  }

  setIrqchip(chip: KvmIrqchip): void {
    this.ioctl("KVM_SET_IRQCHIP", Ioctl.KVM_SET_IRQCHIP, kvm_irqchip.toBytes(chip));
  }

  createPit2(config: KvmPitConfig = { flags: 0, pad: [] }): void {
    this.ioctl("KVM_CREATE_PIT2", Ioctl.KVM_CREATE_PIT2, kvm_pit_config.toBytes(config));
  }

  getPit2(): KvmPitState2 {
    const b = new Uint8Array(kvm_pit_state2.size);
    this.ioctl("KVM_GET_PIT2", Ioctl.KVM_GET_PIT2, b);
    return kvm_pit_state2.fromBytes(b);
  }

  setPit2(state: KvmPitState2): void {
    this.ioctl("KVM_SET_PIT2", Ioctl.KVM_SET_PIT2, kvm_pit_state2.toBytes(state));
  }

  getClock(): KvmClockData {
    const b = new Uint8Array(kvm_clock_data.size);
    this.ioctl("KVM_GET_CLOCK", Ioctl.KVM_GET_CLOCK, b);
    return kvm_clock_data.fromBytes(b);
  }

  setClock(clock: KvmClockData): void {
    this.ioctl("KVM_SET_CLOCK", Ioctl.KVM_SET_CLOCK, kvm_clock_data.toBytes(clock));
  }

  /** KVM_SIGNAL_MSI: > 0 delivered, 0 blocked by the guest. */
  signalMsi(msi: KvmMsi): number {
    return this.ioctl("KVM_SIGNAL_MSI", Ioctl.KVM_SIGNAL_MSI, kvm_msi.toBytes(msi));
  }

  setGsiRouting(entries: readonly KvmIrqRoutingEntry[]): void {
    const n = kvm_irq_routing_entry.size;
    const b = new Uint8Array(8 + entries.length * n);
    const v = new DataView(b.buffer);
    v.setUint32(0, entries.length, true);
    entries.forEach((e, i) => kvm_irq_routing_entry.encode(e, v, 8 + i * n));
    this.ioctl("KVM_SET_GSI_ROUTING", Ioctl.KVM_SET_GSI_ROUTING, b);
  }

  /** Routes `eventfd` writes to interrupt `gsi` (KVM_IRQFD). */
  registerIrqfd(fd: EventFd, gsi: number): void {
    const b = kvm_irqfd.toBytes({ fd: fd.fd, gsi, flags: 0, resamplefd: 0, pad: new Uint8Array(0) });
    this.ioctl("KVM_IRQFD", Ioctl.KVM_IRQFD, b);
  }

  /** A level-triggered irqfd with a resample fd signalled on EOI. */
  registerIrqfdWithResample(fd: EventFd, resample: EventFd, gsi: number): void {
    const b = kvm_irqfd.toBytes({
      fd: fd.fd,
      gsi,
      flags: KVM_IRQFD_FLAG_RESAMPLE,
      resamplefd: resample.fd,
      pad: new Uint8Array(0),
    });
    this.ioctl("KVM_IRQFD", Ioctl.KVM_IRQFD, b);
  }

  unregisterIrqfd(fd: EventFd, gsi: number): void {
    const b = kvm_irqfd.toBytes({
      fd: fd.fd,
      gsi,
      flags: KVM_IRQFD_FLAG_DEASSIGN,
      resamplefd: 0,
      pad: new Uint8Array(0),
    });
    this.ioctl("KVM_IRQFD", Ioctl.KVM_IRQFD, b);
  }

  /** KVM_IRQ_LINE: sets the level of an interrupt line of the in-kernel irqchip. */
  setIrqLine(irq: number, active: boolean): void {
    this.ioctl("KVM_IRQ_LINE", Ioctl.KVM_IRQ_LINE, kvm_irq_level.toBytes({ irq, level: active ? 1 : 0 }));
  }

  /** Signals `fd` when the guest writes to `addr` (matching `datamatch` if given). */
  registerIoevent(fd: EventFd, addr: IoEventAddress, datamatch?: Datamatch): void {
    this.ioctl("KVM_IOEVENTFD", Ioctl.KVM_IOEVENTFD, ioeventBytes(fd, addr, datamatch, false));
  }

  unregisterIoevent(fd: EventFd, addr: IoEventAddress, datamatch?: Datamatch): void {
    this.ioctl("KVM_IOEVENTFD", Ioctl.KVM_IOEVENTFD, ioeventBytes(fd, addr, datamatch, true));
  }

  /** KVM_CREATE_VCPU and the mmap of its kvm_run. */
  createVcpu(id: number): VcpuFd {
    if (!Number.isInteger(id) || id < 0) throw new UsageError("EINVAL", `vCPU id ${id} is not a non-negative integer`);
    const fd = this.ioctl("KVM_CREATE_VCPU", Ioctl.KVM_CREATE_VCPU, id);
    let run: MmapRegion;
    try {
      run = MmapRegion.map(this.#runSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    } catch (e) {
      new KvmFdBaseCloser(fd).close();
      throw e;
    }
    return new VcpuFd(fd, id, run);
  }

  /** KVM_CREATE_DEVICE. */
  createDevice(type: number, flags = 0): DeviceFd {
    const dev: KvmCreateDevice = { type, fd: 0, flags };
    const b = kvm_create_device.toBytes(dev);
    this.ioctl("KVM_CREATE_DEVICE", Ioctl.KVM_CREATE_DEVICE, b);
    return new DeviceFd(kvm_create_device.fromBytes(b).fd);
  }

  enableCap(cap: KvmEnableCap): void {
    this.ioctl("KVM_ENABLE_CAP", Ioctl.KVM_ENABLE_CAP, kvm_enable_cap.toBytes(cap));
  }

  /** KVM_CHECK_EXTENSION on the VM fd (per-VM answers). */
  checkExtension(cap: Cap | number): number {
    return this.ioctl("KVM_CHECK_EXTENSION", Ioctl.KVM_CHECK_EXTENSION, cap);
  }
}

class KvmFdBaseCloser extends KvmFdBase {}
