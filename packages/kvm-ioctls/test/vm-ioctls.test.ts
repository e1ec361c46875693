import {
  Cap,
  DeviceType,
  EFER_LMA,
  EFER_LME,
  KVM_IRQ_ROUTING_IRQCHIP,
  KVM_IRQ_ROUTING_MSI,
  Kvm,
  PTE_PRESENT,
  PTE_WRITABLE,
  writeIdentityPageTables,
  X86_CR0_PE,
  X86_CR0_PG,
  X86_CR4_PAE,
} from "@kindling/kvm-ioctls";
import { SysError } from "@kindling/sys-util";
import { describe, expect, it } from "vitest";
import { TestMemory } from "./guest-memory.js";
import { kvmUnavailable } from "./helpers.js";

function routeIrqchip(gsi: number, chip: number, pin: number) {
  const u = new Uint8Array(32);
  const v = new DataView(u.buffer);
  v.setUint32(0, chip, true);
  v.setUint32(4, pin, true);
  return { gsi, type: KVM_IRQ_ROUTING_IRQCHIP, flags: 0, pad: 0, u };
}

describe.skipIf(kvmUnavailable)("VM-level ioctls", () => {
  it("PIT state, IRQ lines, GSI routing and MSIs on the in-kernel irqchip", () => {
    const kvm = Kvm.open();
    const vm = kvm.createVm();
    vm.createIrqChip();
    vm.createPit2();
    const pit = vm.getPit2();
    expect(pit.channels).toHaveLength(3);
    pit.channels[0].count = 0x1234;
    vm.setPit2(pit);
    expect(vm.getPit2().channels[0].count).toBe(0x1234);

    vm.setIrqLine(4, true);
    vm.setIrqLine(4, false);
    // The default routing (PIC and IOAPIC pins), plus one MSI route.
    const routes = [];
    for (let gsi = 0; gsi < 16; gsi++) {
      if (gsi !== 2) routes.push(routeIrqchip(gsi, gsi < 8 ? 0 : 1, gsi % 8));
      routes.push(routeIrqchip(gsi, 2, gsi === 0 ? 2 : gsi));
    }
    const msi = new Uint8Array(32);
    new DataView(msi.buffer).setUint32(0, 0xfee00000, true);
    new DataView(msi.buffer).setUint32(8, 0x30, true);
    routes.push({ gsi: 24, type: KVM_IRQ_ROUTING_MSI, flags: 0, pad: 0, u: msi });
    vm.setGsiRouting(routes);
    vm.createVcpu(0).close();
    expect(
      vm.signalMsi({ address_lo: 0xfee00000, address_hi: 0, data: 0x31, flags: 0, devid: 0, pad: new Uint8Array(0) }),
    ).toBeGreaterThanOrEqual(0);
    vm.close();
    kvm.close();
  });

  it("enableCap and createDevice succeed or fail with typed errors", () => {
    const kvm = Kvm.open();
    const vm = kvm.createVm();
    // An unknown capability is refused by the kernel as EINVAL, as a SysError naming the ioctl.
    try {
      vm.enableCap({ cap: 0x7fff, flags: 0, args: [], pad: new Uint8Array(0) });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SysError);
      expect((e as SysError).syscall).toBe("KVM_ENABLE_CAP");
      expect((e as SysError).code).toBe("EINVAL");
    }
    if (vm.checkExtension(Cap.DeviceCtrl)) {
      try {
        const dev = vm.createDevice(DeviceType.Vfio);
        expect(dev.fd).toBeGreaterThan(2);
        expect(dev.hasDeviceAttr({ flags: 0, group: 0xffff, attr: 0n, addr: 0n })).toBe(false);
        dev.close();
      } catch (e) {
        // No vfio module on this host: still a typed error.
        expect(e).toBeInstanceOf(SysError);
      }
    }
    expect(() => vm.createDevice(0xffff)).toThrow(SysError);
    vm.close();
    kvm.close();
  });

  it("translates a guest virtual address through the vCPU's page tables; NMI, SMI and TSC", () => {
    const kvm = Kvm.open();
    const vm = kvm.createVm();
    vm.createIrqChip();
    const mem = new TestMemory(0, 4 << 20);
    writeIdentityPageTables(mem.bytes, 0, 0x1000, 4 << 20, PTE_PRESENT | PTE_WRITABLE);
    mem.register(vm);
    const vcpu = vm.createVcpu(0);
    const sregs = vcpu.getSregs();
    sregs.cr0 = X86_CR0_PE | X86_CR0_PG;
    sregs.cr3 = 0x1000n;
    sregs.cr4 = X86_CR4_PAE;
    sregs.efer = EFER_LME | EFER_LMA;
    sregs.cs = { ...sregs.cs, l: 1, db: 0 };
    vcpu.setSregs(sregs);
    const t = vcpu.translateGva(0x23_4567n);
    expect(t.valid).toBe(1);
    expect(t.physical_address).toBe(0x23_4567n);
    expect(vcpu.translateGva(0x7000_0000n).valid).toBe(0); // beyond the mapped 4 MiB
    vcpu.nmi();
    if (kvm.checkExtension(Cap.X86Smm)) vcpu.smi();
    if (kvm.checkExtension(Cap.GetTscKhz)) {
      const khz = vcpu.getTscKhz();
      expect(khz).toBeGreaterThan(0);
      if (kvm.checkExtension(Cap.TscControl)) vcpu.setTscKhz(khz);
    }
    // Without a kvmclock-using guest the kernel may refuse; either way, no untyped error.
    try {
      vcpu.kvmclockCtrl();
    } catch (e) {
      expect(e).toBeInstanceOf(SysError);
    }
    vcpu.close();
    vm.close();
    kvm.close();
    mem.region.unmap();
  });
});
