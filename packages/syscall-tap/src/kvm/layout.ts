/**
 * The guest side of the kvm platform: one identity-mapped address space
 * (guest virtual = guest physical) whose first 2 MiB hold the shim (page
 * tables, GDT, TSS, IDT, ring-0 stack, and a few instructions) and whose rest
 * belongs to the program, present and user-accessible.
 *
 * The shim's pages are user-readable but read-only (the ring-0 stack aside):
 * on these machines' nested KVM the instructions at the syscall entry are
 * fetched with the user's privilege, so a supervisor-only shim page faults.
 * Read-only keeps the program from rewriting the IDT, GDT or page tables
 * (which would let it run its own code in ring 0); CR0.WP makes that hold for
 * ring 0 too, and descriptors are pre-marked accessed so the CPU never writes
 * them. Page 0 is not present, so null pointers fault.
 *
 * The ring-0 shim does one thing: `out` to a port that names why ring 3 left
 * (the `syscall` entry, or one port per exception vector). The host answers
 * by writing registers and segments through kvm_run's sync regs; no `sysret`
 * or `iret` ever runs (see the architecture notes: `sysret` triple-faults on
 * these machines and ring-0 instructions are emulated slowly).
 */
import {
  type GdtEntry,
  gdtEntry,
  type KvmSegment,
  PTE_PRESENT,
  PTE_USER,
  PTE_WRITABLE,
  segmentFromGdt,
  writeIdentityPageTables,
} from "@kindling/kvm-ioctls";

/** Everything below this is the shim's; the program gets [USER_BASE, memory size). */
export const USER_BASE = 0x20_0000;
export const PAGE_TABLES = 0x1000;
export const PAGE_TABLES_END = 0x11000;
export const GDT_ADDR = 0x11000;
export const TSS_ADDR = 0x12000;
export const IDT_ADDR = 0x13000;
export const SHIM_ADDR = 0x14000;
/** The 4 KiB page table of the first 2 MiB. */
export const LOW_PAGE_TABLE = 0x15000;
/** The ring-0 stack's pages: [RING0_STACK_BOTTOM, RING0_STACK_TOP). */
export const RING0_STACK_BOTTOM = 0x16000;
/** Exception stubs: vector v's stub is at EXC_STUBS + 8 v. */
export const EXC_STUBS = SHIM_ADDR + 0x100;
/** Top of the ring-0 stack the CPU switches to on an exception from ring 3 (IST1 and RSP0). */
export const RING0_STACK_TOP = 0x20000;

/** The port the syscall entry writes. */
export const SYSCALL_PORT = 0x10;
/** Exception vector v (0..31) writes EXCEPTION_PORT_BASE + v; other vectors write SPURIOUS_PORT. */
export const EXCEPTION_PORT_BASE = 0x20;
export const SPURIOUS_PORT = 0x40;
/**
 * `int 0x80` writes INT80_PORT. Its gate is DPL 3, as on a Linux with IA32
 * emulation: there it is the 32-bit system call entry, which the sandbox
 * answers with -ENOSYS (no i386 ABI is served).
 */
export const INT80_PORT = 0x41;
/** The stub slot of `int 0x80` (after the 32 exception stubs and the spurious one). */
const INT80_SLOT = 33;

/**
 * Where the shim's own `out` instructions are: a port I/O exit is the shim's
 * only when it comes from one of these (at this rip, with this port, 1 byte,
 * out). Anything else is program code touching a port and gets Linux's #GP.
 */
export const SYSCALL_OUT_RIP = SHIM_ADDR;
/** The rip of the `out` of the stub vector v (0..31) writes; 32 is the spurious stub's. */
export const stubOutRip = (v: number): number => EXC_STUBS + v * 8;
export const INT80_OUT_RIP = EXC_STUBS + INT80_SLOT * 8;

export const SEL_KERNEL_CS = 0x08;
export const SEL_KERNEL_DS = 0x10;
export const SEL_USER_DS = 0x1b;
export const SEL_USER_CS = 0x23;
export const SEL_TSS = 0x28;

/**
 * The TSS ends with a 4-byte I/O permission bitmap that opens exactly one
 * port to ring 3: SYSCALL_PORT. On these machines' nested KVM, `syscall`
 * jumps to LSTAR without leaving CPL 3, so the entry's `out` must be allowed
 * from ring 3. The platform serves a system call only for the shim's own
 * `out` (at its rip); the program's port I/O, on this port or any other, is
 * the #GP Linux gives. Every other port (the exception ports among them)
 * stays closed to ring 3.
 */
const IOMAP_OFFSET = 104;
const TSS_LIMIT = IOMAP_OFFSET + 4 - 1;

const GDT: GdtEntry[] = [
  { base: 0, limit: 0, access: 0, flags: 0 },
  { base: 0, limit: 0xfffff, access: 0x9b, flags: 0xa }, // kernel code64
  { base: 0, limit: 0xfffff, access: 0x93, flags: 0xc }, // kernel data
  { base: 0, limit: 0xfffff, access: 0xf3, flags: 0xc }, // user data (DPL 3)
  { base: 0, limit: 0xfffff, access: 0xfb, flags: 0xa }, // user code64 (DPL 3)
  { base: TSS_ADDR, limit: TSS_LIMIT, access: 0x89, flags: 0 }, // 64-bit TSS (16-byte descriptor)
];

export const USER_CS: KvmSegment = segmentFromGdt(GDT[4], 4);
export const USER_DS: KvmSegment = segmentFromGdt(GDT[3], 3);
export const KERNEL_CS: KvmSegment = segmentFromGdt(GDT[1], 1);
export const TSS_SEGMENT: KvmSegment = { ...segmentFromGdt(GDT[5], 5), type: 0xb }; // busy TSS
export const GDT_LIMIT = GDT.length * 8 + 8 - 1;

/** Vectors for which the CPU pushes an error code. */
export const HAS_ERROR_CODE = new Set([8, 10, 11, 12, 13, 14, 17, 21, 29, 30]);

/**
 * Writes the shim into guest memory `mem` (the bytes of guest physical
 * [0, mem.length)): page tables covering all of it (the first 2 MiB
 * supervisor-only), GDT, TSS, IDT and the stubs. Returns CR3.
 */
export function writeShim(mem: Uint8Array): bigint {
  if (mem.length < USER_BASE * 2) throw new RangeError(`guest memory of ${mem.length} bytes is too small`);
  const dv = new DataView(mem.buffer, mem.byteOffset, mem.byteLength);
  mem.fill(0, 0, USER_BASE);
  const { cr3, bytes } = writeIdentityPageTables(
    mem,
    0,
    PAGE_TABLES,
    mem.length,
    PTE_PRESENT | PTE_WRITABLE | PTE_USER,
  );
  if (PAGE_TABLES + bytes > PAGE_TABLES_END) throw new RangeError("guest memory too large for the shim's page tables");
  // The first 2 MiB through 4 KiB pages: page 0 absent, the shim read-only, the ring-0 stack
  // writable, the rest absent.
  const pd0 = PAGE_TABLES + 2 * 4096;
  dv.setBigUint64(pd0, BigInt(LOW_PAGE_TABLE) | PTE_PRESENT | PTE_WRITABLE | PTE_USER, true);
  for (let page = 1; page < 512; page++) {
    const addr = page * 4096;
    let pte = 0n;
    if (addr < RING0_STACK_BOTTOM) pte = BigInt(addr) | PTE_PRESENT | PTE_USER;
    else if (addr < RING0_STACK_TOP) pte = BigInt(addr) | PTE_PRESENT | PTE_WRITABLE | PTE_USER;
    dv.setBigUint64(LOW_PAGE_TABLE + page * 8, pte, true);
  }

  GDT.forEach((e, i) => dv.setBigUint64(GDT_ADDR + i * 8, gdtEntry(e), true));
  dv.setBigUint64(GDT_ADDR + GDT.length * 8, 0n, true); // TSS descriptor, upper half

  // TSS: RSP0 and IST1 both point at the ring-0 stack; the I/O bitmap opens SYSCALL_PORT only.
  dv.setBigUint64(TSS_ADDR + 4, BigInt(RING0_STACK_TOP), true);
  dv.setBigUint64(TSS_ADDR + 36, BigInt(RING0_STACK_TOP), true);
  dv.setUint16(TSS_ADDR + 102, IOMAP_OFFSET, true);
  const iomap = new Uint8Array(4).fill(0xff);
  iomap[SYSCALL_PORT >> 3] &= ~(1 << (SYSCALL_PORT & 7));
  mem.set(iomap, TSS_ADDR + IOMAP_OFFSET);

  // syscall entry: out SYSCALL_PORT, al; then hlt forever (never reached: the host moves rip).
  mem.set([0xe6, SYSCALL_PORT, 0xf4, 0xeb, 0xfd], SHIM_ADDR);
  mem.set([0xe6, INT80_PORT, 0xf4, 0xeb, 0xfd], INT80_OUT_RIP);
  for (let v = 0; v < 256; v++) {
    const stub = v === 0x80 ? INT80_OUT_RIP : stubOutRip(Math.min(v, 32));
    if (v <= 32) mem.set([0xe6, v < 32 ? EXCEPTION_PORT_BASE + v : SPURIOUS_PORT, 0xf4, 0xeb, 0xfd], stub);
    // 64-bit interrupt gate, IST1. DPL 3 only where Linux's IDT has it (int3, into, int 0x80):
    // `int n` through any other gate is #GP with error code (n << 3) | 2, as Linux reports.
    const gate = IDT_ADDR + v * 16;
    dv.setUint16(gate, stub & 0xffff, true);
    dv.setUint16(gate + 2, SEL_KERNEL_CS, true);
    dv.setUint8(gate + 4, 1);
    dv.setUint8(gate + 5, v === 3 || v === 4 || v === 0x80 ? 0xee : 0x8e);
    dv.setUint16(gate + 6, (stub >>> 16) & 0xffff, true);
    dv.setUint32(gate + 8, 0, true);
    dv.setUint32(gate + 12, 0, true);
  }
  return cr3;
}
