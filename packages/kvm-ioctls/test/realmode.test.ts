import { Cap, KVM_MEM_LOG_DIRTY_PAGES, Kvm, type VcpuFd, type VmFd } from "@kindling/kvm-ioctls";
import { EFD_NONBLOCK, EventFd, SysError, UsageError } from "@kindling/sys-util";
import { afterEach, describe, expect, it } from "vitest";
import { TestMemory } from "./guest-memory.js";
import { kvmUnavailable } from "./helpers.js";

function realModeVcpu(vm: VmFd, ip: number): VcpuFd {
  const vcpu = vm.createVcpu(0);
  const sregs = vcpu.getSregs();
  sregs.cs.base = 0n;
  sregs.cs.selector = 0;
  vcpu.setSregs(sregs);
  const regs = vcpu.getRegs();
  regs.rip = BigInt(ip);
  regs.rflags = 2n;
  regs.rax = 2n;
  regs.rbx = 3n;
  vcpu.setRegs(regs);
  return vcpu;
}

describe.skipIf(kvmUnavailable)("KVM system and VM fds", () => {
  const open: Array<{ close(): void }> = [];
  afterEach(() => {
    for (const o of open.splice(0).reverse()) o.close();
  });

  it("reports API version, mmap size and capabilities", () => {
    const kvm = Kvm.open();
    open.push(kvm);
    expect(kvm.apiVersion()).toBe(12);
    expect(kvm.vcpuMmapSize()).toBeGreaterThanOrEqual(4096);
    expect(kvm.checkExtension(Cap.UserMemory)).toBeGreaterThan(0);
    expect(kvm.nrMemslots()).toBeGreaterThanOrEqual(32);
    expect(kvm.maxVcpus()).toBeGreaterThanOrEqual(kvm.nrVcpus());
    const cpuid = kvm.supportedCpuid();
    expect(cpuid.entries.length).toBeGreaterThan(0);
    expect(cpuid.find(0)).toBeDefined();
    expect(kvm.msrIndexList().length).toBeGreaterThan(0);
    const features = kvm.msrFeatureIndexList();
    if (features.length > 0) expect(kvm.getMsrs(features.slice(0, 1)).length).toBeLessThanOrEqual(1);
    expect(() => kvm.emulatedCpuid()).not.toThrow();
  });

  it("rejects overlapping memory slots, bad vCPU ids and calls on closed fds with typed errors", () => {
    const kvm = Kvm.open();
    const vm = kvm.createVm();
    open.push(kvm, vm);
    const mem = new TestMemory(0x10000, 0x10000);
    open.push({ close: () => mem.region.unmap() });
    mem.register(vm, 0);
    const overlap = () =>
      vm.setUserMemoryRegion({
        slot: 1,
        guestPhysAddr: 0x18000n,
        memorySize: 0x10000n,
        userspaceAddr: mem.region.hostAddress,
      });
    expect(overlap).toThrow(SysError);
    expect(overlap).toThrowError(expect.objectContaining({ code: "EEXIST" }));
    expect(() =>
      vm.setUserMemoryRegion({
        slot: 100000,
        guestPhysAddr: 0x100000n,
        memorySize: 0x1000n,
        userspaceAddr: mem.region.hostAddress,
      }),
    ).toThrowError(expect.objectContaining({ code: "EINVAL" }));
    expect(() => vm.createVcpu(kvm.maxVcpus() + 4096)).toThrowError(expect.objectContaining({ code: "EINVAL" }));
    expect(() => vm.createVcpu(-1)).toThrow(UsageError);
    const v = vm.createVcpu(0);
    v.close();
    expect(() => v.getRegs()).toThrowError(expect.objectContaining({ code: "EBADF" }));
    expect(() => v.run()).toThrow(UsageError);
  });

  it("runs real-mode code: port out, MMIO write and read, port in, halt; dirty log counts pages", () => {
    const kvm = Kvm.open();
    const vm = kvm.createVm();
    open.push(kvm, vm);
    const mem = new TestMemory(0x1000, 0x4000);
    open.push({ close: () => mem.region.unmap() });
    // biome-ignore format: one instruction per line
    mem.write(0x1000, [
      0xba, 0xf8, 0x03, // mov dx, 0x3f8
      0x00, 0xd8,       // add al, bl
      0x04, 0x30,       // add al, '0'
      0xee,             // out dx, al
      0xa2, 0x00, 0x80, // mov [0x8000], al   (unmapped: MMIO write)
      0xec,             // in al, dx
      0xa2, 0x00, 0x20, // mov [0x2000], al   (dirties page 0x2000)
      0xa0, 0x00, 0x80, // mov al, [0x8000]   (MMIO read)
      0xa2, 0x00, 0x30, // mov [0x3000], al   (dirties page 0x3000)
      0xf4,             // hlt
    ]);
    mem.register(vm, 0, KVM_MEM_LOG_DIRTY_PAGES);
    const vcpu = realModeVcpu(vm, 0x1000);
    open.push(vcpu);

    let e = vcpu.run();
    expect(e).toMatchObject({ kind: "IoOut", port: 0x3f8, size: 1, count: 1 });
    expect(e.kind === "IoOut" && String.fromCharCode(e.data[0])).toBe("5");

    e = vcpu.run();
    expect(e).toMatchObject({ kind: "MmioWrite", address: 0x8000 });
    expect(e.kind === "MmioWrite" && [...e.data]).toEqual([0x35]);

    e = vcpu.run();
    expect(e).toMatchObject({ kind: "IoIn", port: 0x3f8, size: 1 });
    if (e.kind === "IoIn") e.data[0] = 0x41; // the guest reads 'A'

    e = vcpu.run();
    expect(e).toMatchObject({ kind: "MmioRead", address: 0x8000 });
    if (e.kind === "MmioRead") {
      expect(e.data.length).toBe(1);
      e.data[0] = 0x42; // the guest reads 'B'
    }

    e = vcpu.run();
    expect(e.kind).toBe("Hlt");
    expect(mem.bytes[0x2000 - 0x1000]).toBe(0x41);
    expect(mem.bytes[0x3000 - 0x1000]).toBe(0x42);
    expect(vcpu.getRegs().rax & 0xffn).toBe(0x42n);

    const bitmap = vm.getDirtyLog(0, 0x4000);
    let dirty = 0;
    for (const w of bitmap) for (let b = w; b; b &= b - 1n) dirty++;
    // Pages 0x2000 and 0x3000 were written; the code page may count when KVM writes A/D bits.
    expect(dirty).toBeGreaterThanOrEqual(2);
    expect(bitmap[0] & 0b110n).toBe(0b110n);
    // The log is cleared by reading it.
    const again = vm.getDirtyLog(0, 0x4000);
    expect(again[0] & 0b110n).toBe(0n);
  });

  it("ioeventfd fires on a matching write and not on another value", () => {
    const kvm = Kvm.open();
    const vm = kvm.createVm();
    open.push(kvm, vm);
    const mem = new TestMemory(0x1000, 0x4000);
    open.push({ close: () => mem.region.unmap() });
    // biome-ignore format: one instruction per line
    mem.write(0x1000, [
      0xba, 0x00, 0x01, // mov dx, 0x100
      0xb0, 0x42,       // mov al, 0x42
      0xee,             // out dx, al      (matches: no exit)
      0xb0, 0x43,       // mov al, 0x43
      0xee,             // out dx, al      (no match: exit)
      0xb0, 0x07,       // mov al, 7
      0xa2, 0x00, 0x90, // mov [0x9000], al (MMIO eventfd: no exit)
      0xf4,             // hlt
    ]);
    mem.register(vm);
    const pio = new EventFd(0, EFD_NONBLOCK);
    const mmio = new EventFd(0, EFD_NONBLOCK);
    open.push(pio, mmio);
    vm.registerIoevent(pio, { pio: 0x100 }, { u8: 0x42 });
    vm.registerIoevent(mmio, { mmio: 0x9000n });
    const vcpu = realModeVcpu(vm, 0x1000);
    open.push(vcpu);
    const e = vcpu.run();
    expect(e).toMatchObject({ kind: "IoOut", port: 0x100 });
    expect(e.kind === "IoOut" && e.data[0]).toBe(0x43);
    expect(pio.tryRead()).toBe(1n);
    expect(vcpu.run().kind).toBe("Hlt");
    expect(mmio.tryRead()).toBe(1n);
    vm.unregisterIoevent(pio, { pio: 0x100 }, { u8: 0x42 });
    expect(() => vm.unregisterIoevent(pio, { pio: 0x100 }, { u8: 0x42 })).toThrowError(
      expect.objectContaining({ code: "ENOENT" }),
    );
  });

  it("irqfd raises an interrupt the guest observes through the in-kernel PIC", () => {
    const kvm = Kvm.open();
    const vm = kvm.createVm();
    open.push(kvm, vm);
    vm.setTssAddress(0xfffbd000);
    vm.createIrqChip();
    vm.createPit2();
    const mem = new TestMemory(0, 0x10000);
    open.push({ close: () => mem.region.unmap() });
    // Real-mode IVT entry for vector 0x24 (PIC base 0x20 + IRQ 4) → 0000:1100.
    mem.write(0x24 * 4, [0x00, 0x11, 0x00, 0x00]);
    // biome-ignore format: one instruction per line
    mem.write(0x1000, [
      0xb0, 0x11, 0xe6, 0x20, // ICW1
      0xb0, 0x20, 0xe6, 0x21, // ICW2: vectors 0x20..
      0xb0, 0x04, 0xe6, 0x21, // ICW3
      0xb0, 0x01, 0xe6, 0x21, // ICW4
      0xb0, 0xef, 0xe6, 0x21, // OCW1: unmask IRQ 4 only
      0xb0, 0x52, 0xe6, 0x80, // out 0x80, 'R' (ready)
      0xfb,                   // sti
      0xf4,                   // hlt
      0xeb, 0xfd,             // jmp hlt
    ]);
    // biome-ignore format: one instruction per line
    mem.write(0x1100, [
      0xb0, 0x49, 0xe6, 0x80, // out 0x80, 'I'
      0xf4,
    ]);
    mem.register(vm);
    const irq = new EventFd(0, EFD_NONBLOCK);
    open.push(irq);
    vm.registerIrqfd(irq, 4);
    const vcpu = realModeVcpu(vm, 0x1000);
    open.push(vcpu);
    let e = vcpu.run();
    expect(e).toMatchObject({ kind: "IoOut", port: 0x80 });
    expect(e.kind === "IoOut" && e.data[0]).toBe(0x52);
    irq.write(1);
    e = vcpu.run();
    expect(e).toMatchObject({ kind: "IoOut", port: 0x80 });
    expect(e.kind === "IoOut" && e.data[0]).toBe(0x49);
    const pic = vm.getIrqchip(0);
    expect(pic.chip.length).toBe(512);
    vm.unregisterIrqfd(irq, 4);
  });

  it("round-trips vCPU state through the state ioctls", () => {
    const kvm = Kvm.open();
    const vm = kvm.createVm();
    open.push(kvm, vm);
    vm.createIrqChip();
    const vcpu = vm.createVcpu(0);
    open.push(vcpu);
    vcpu.setCpuid2(kvm.supportedCpuid());
    expect(vcpu.getCpuid2().entries.length).toBeGreaterThan(0);
    const regs = vcpu.getRegs();
    regs.r15 = 0x1234_5678_9abc_def0n;
    vcpu.setRegs(regs);
    expect(vcpu.getRegs().r15).toBe(0x1234_5678_9abc_def0n);
    const fpu = vcpu.getFpu();
    // (KVM_GET_FPU reports mxcsr as 0 on these machines' nested KVM; fcw and xmm round-trip.)
    fpu.fcw = 0x37e;
    fpu.xmm[17] = 0x5a;
    vcpu.setFpu(fpu);
    expect(vcpu.getFpu().fcw).toBe(0x37e);
    expect(vcpu.getFpu().xmm[17]).toBe(0x5a);
    vcpu.setLapic(vcpu.getLapic());
    expect(vcpu.getMpState()).toBe(0);
    vcpu.setMpState(0);
    vcpu.setVcpuEvents(vcpu.getVcpuEvents());
    vcpu.setDebugRegs(vcpu.getDebugRegs());
    if (kvm.checkExtension(Cap.Xsave)) vcpu.setXsave(vcpu.getXsave());
    if (kvm.checkExtension(Cap.Xcrs)) vcpu.setXcrs(vcpu.getXcrs());
    const n = vcpu.setMsrs([{ index: 0x10, reserved: 0, data: 1000n }]);
    expect(n).toBe(1);
    expect(vcpu.getMsrs([0x174]).length).toBe(1);
    if (kvm.checkExtension(Cap.GetTscKhz)) expect(vcpu.getTscKhz()).toBeGreaterThan(0);
    vcpu.setGuestDebug({ control: 0, pad: 0, arch: { debugreg: [] } });
    const clock = vm.getClock();
    expect(clock.clock).toBeGreaterThanOrEqual(0n);
    vm.setClock({ ...clock, flags: 0 });
  });
});
