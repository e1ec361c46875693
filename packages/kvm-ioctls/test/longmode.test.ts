import {
  EFER_LMA,
  EFER_LME,
  EFER_SCE,
  type GdtEntry,
  gdtEntry,
  KVM_RUN_OFFSETS,
  KVM_SYNC_X86_REGS,
  KVM_SYNC_X86_SREGS,
  Kvm,
  kvm_segment,
  MSR_LSTAR,
  MSR_STAR,
  MSR_SYSCALL_MASK,
  PTE_PRESENT,
  PTE_USER,
  PTE_WRITABLE,
  segmentFromGdt,
  writeIdentityPageTables,
  X86_CR0_ET,
  X86_CR0_NE,
  X86_CR0_PE,
  X86_CR0_PG,
  X86_CR4_OSFXSR,
  X86_CR4_OSXMMEXCPT,
  X86_CR4_PAE,
} from "@kindling/kvm-ioctls";
import { describe, expect, it } from "vitest";
import { TestMemory } from "./guest-memory.js";
import { kvmUnavailable } from "./helpers.js";

// The sandbox pattern, proven at the KVM level: ring-3 code runs `syscall`;
// the ring-0 entry is one `out`; the host answers in rax and returns to
// ring 3 by writing registers and segments through kvm_run's sync regs.
const GDT = 0x500;
const TSS = 0x600;
const PAGE_TABLES = 0x1000;
const SHIM = 0x4000;
const USER_CODE = 0x5000;
const SHIM_PORT = 0x10;

const gdt: GdtEntry[] = [
  { base: 0, limit: 0, access: 0, flags: 0 },
  { base: 0, limit: 0xfffff, access: 0x9b, flags: 0xa }, // 0x08 kernel code64
  { base: 0, limit: 0xfffff, access: 0x93, flags: 0xc }, // 0x10 kernel data
  { base: 0, limit: 0xfffff, access: 0xf3, flags: 0xc }, // 0x1b user data
  { base: 0, limit: 0xfffff, access: 0xfb, flags: 0xa }, // 0x23 user code64
  { base: TSS, limit: 0x67, access: 0x89, flags: 0 }, // 0x28 TSS (16-byte descriptor)
];

describe.skipIf(kvmUnavailable)("long mode: ring-3 syscall served by the host through sync regs", () => {
  it("runs a getpid loop in ring 3 with every answer written through kvm_run", () => {
    const kvm = Kvm.open();
    const vm = kvm.createVm();
    const mem = new TestMemory(0, 4 << 20);
    const dv = mem.view();
    writeIdentityPageTables(mem.bytes, 0, PAGE_TABLES, 4 << 20, PTE_PRESENT | PTE_WRITABLE | PTE_USER);
    gdt.forEach((e, i) => dv.setBigUint64(GDT + i * 8, gdtEntry(e), true));
    dv.setBigUint64(GDT + 6 * 8, 0n, true); // TSS descriptor upper half (base >> 32)
    mem.write(SHIM, [0xe6, SHIM_PORT, 0xf4]); // out SHIM_PORT, al; hlt
    // biome-ignore format: one instruction per line
    mem.write(USER_CODE, [
      0xbb, 0x05, 0x00, 0x00, 0x00, // mov ebx, 5
      0xb8, 0x27, 0x00, 0x00, 0x00, // loop: mov eax, 39 (getpid)
      0x0f, 0x05,                   // syscall
      0x49, 0x01, 0xc4,             // add r12, rax
      0xff, 0xcb,                   // dec ebx
      0x75, 0xf2,                   // jnz loop
      0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60 (exit)
      0x0f, 0x05,                   // syscall
    ]);
    mem.register(vm);

    const vcpu = vm.createVcpu(0);
    vcpu.setCpuid2(kvm.supportedCpuid());
    const userCs = segmentFromGdt(gdt[4], 4);
    const userSs = segmentFromGdt(gdt[3], 3);
    const sregs = vcpu.getSregs();
    Object.assign(sregs, {
      cs: userCs,
      ss: userSs,
      ds: userSs,
      es: userSs,
      fs: userSs,
      gs: userSs,
      tr: { ...segmentFromGdt(gdt[5], 5), type: 0xb },
      gdt: { base: BigInt(GDT), limit: 7 * 8 - 1, padding: [] },
      cr0: X86_CR0_PE | X86_CR0_PG | X86_CR0_ET | X86_CR0_NE,
      cr3: BigInt(PAGE_TABLES),
      cr4: X86_CR4_PAE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT,
      efer: EFER_LME | EFER_LMA | EFER_SCE,
    });
    vcpu.setSregs(sregs);
    vcpu.setMsrs([
      { index: MSR_LSTAR, reserved: 0, data: BigInt(SHIM) },
      { index: MSR_STAR, reserved: 0, data: (0x08n << 32n) | (0x10n << 48n) },
      { index: MSR_SYSCALL_MASK, reserved: 0, data: 0x700n },
    ]);
    const regs = vcpu.getRegs();
    Object.assign(regs, { rip: BigInt(USER_CODE), rsp: 0x3ff000n, rflags: 2n, r12: 0n });
    vcpu.setRegs(regs);

    // The user segments as bytes, copied into kvm_run's sync sregs on each return.
    const csBytes = kvm_segment.toBytes(userCs);
    const ssBytes = kvm_segment.toBytes(userSs);
    const run = new Uint8Array(vcpu.runBuffer);
    const sregsAt = KVM_RUN_OFFSETS.sync_regs_sregs;
    vcpu.setSyncValidRegs(KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS);

    const w = vcpu.syncRegsWords; // rax rbx rcx rdx rsi rdi rsp rbp r8..r15 rip rflags
    const seen: bigint[] = [];
    let pid = 1000n;
    for (;;) {
      const e = vcpu.run();
      expect(e).toMatchObject({ kind: "IoOut", port: SHIM_PORT });
      // Entered the shim through LSTAR (rip is just past its `out`); RCX/R11 hold the return
      // state. (This nested KVM jumps to LSTAR without leaving CPL 3 and keeps the user CS; the
      // `out` still works because the zeroed TSS's I/O bitmap, at offset 0, allows the port.)
      expect(w[16]).toBe(BigInt(SHIM + 2));
      const nr = w[0];
      seen.push(nr);
      if (nr === 60n) break;
      w[0] = ++pid;
      w[16] = w[2]; // rip = rcx
      w[17] = w[11]; // rflags = r11
      run.set(csBytes, sregsAt);
      run.set(ssBytes, sregsAt + 120);
      vcpu.setSyncDirtyRegs(KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS);
    }
    expect(seen).toEqual([39n, 39n, 39n, 39n, 39n, 60n]);
    expect(w[12]).toBe(1001n + 1002n + 1003n + 1004n + 1005n); // r12 summed our answers in ring 3
    expect(w[1]).toBe(0n); // rbx counted down
    expect(w[2]).toBe(BigInt(USER_CODE + 26)); // rcx: the instruction after the last syscall
    vcpu.close();
    vm.close();
    kvm.close();
    mem.region.unmap();
  });
});
