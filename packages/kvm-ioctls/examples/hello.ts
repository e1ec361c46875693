import { Kvm } from "@kindling/kvm-ioctls";
import { MmapRegion } from "@kindling/sys-util";

/** Runs a 16-bit guest that prints a greeting on port 0x3f8; returns what it printed. */
export function helloFromKvm(): string {
  const kvm = Kvm.open();
  const vm = kvm.createVm();
  const mem = MmapRegion.anonymous(0x4000);
  // biome-ignore format: one instruction per line
  mem.bytes().set([
    0xbe, 0x0f, 0x10, // mov si, msg
    0xba, 0xf8, 0x03, // mov dx, 0x3f8
    0xac,             // next: lodsb
    0x84, 0xc0,       // test al, al
    0x74, 0x03,       // jz done
    0xee,             // out dx, al
    0xeb, 0xf8,       // jmp next
    0xf4,             // done: hlt
    ...Buffer.from("Hello from KVM\n\0"),
  ]);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0x1000n, memorySize: 0x4000n, userspaceAddr: mem.hostAddress });

  const vcpu = vm.createVcpu(0);
  const sregs = vcpu.getSregs();
  sregs.cs.base = 0n;
  sregs.cs.selector = 0;
  vcpu.setSregs(sregs);
  vcpu.setRegs({ ...vcpu.getRegs(), rip: 0x1000n, rflags: 2n });

  let out = "";
  for (;;) {
    const exit = vcpu.run();
    if (exit.kind === "IoOut" && exit.port === 0x3f8) out += String.fromCharCode(exit.data[0]);
    else if (exit.kind === "Hlt") break;
    else throw new Error(`unexpected exit ${exit.kind}`);
  }
  vcpu.close();
  vm.close();
  kvm.close();
  mem.unmap();
  return out;
}
