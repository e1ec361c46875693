// The kvm structs of <linux/kvm.h> (x86-64) as typed codecs. Field names are
// the C names; sizes and offsets are verified against the header by a test.
import { type FieldType, StructCodec } from "./codec.js";

const u8: FieldType = "u8";
const u16: FieldType = "u16";
const u32: FieldType = "u32";
const i32: FieldType = "i32";
const u64: FieldType = "u64";
const i64: FieldType = "i64";
const bytes = (n: number): FieldType => ({ bytes: n });
const struct = (s: StructCodec<object>): FieldType => ({ struct: s });
const array = (t: "u8" | "u16" | "u32" | "u64" | StructCodec<object>, count: number): FieldType => ({
  array: typeof t === "string" ? t : { struct: t },
  count,
});

export interface KvmRegs {
  rax: bigint;
  rbx: bigint;
  rcx: bigint;
  rdx: bigint;
  rsi: bigint;
  rdi: bigint;
  rsp: bigint;
  rbp: bigint;
  r8: bigint;
  r9: bigint;
  r10: bigint;
  r11: bigint;
  r12: bigint;
  r13: bigint;
  r14: bigint;
  r15: bigint;
  rip: bigint;
  rflags: bigint;
}

export const kvm_regs = new StructCodec<KvmRegs>("kvm_regs", 144, [
  ["rax", u64, 0],
  ["rbx", u64, 8],
  ["rcx", u64, 16],
  ["rdx", u64, 24],
  ["rsi", u64, 32],
  ["rdi", u64, 40],
  ["rsp", u64, 48],
  ["rbp", u64, 56],
  ["r8", u64, 64],
  ["r9", u64, 72],
  ["r10", u64, 80],
  ["r11", u64, 88],
  ["r12", u64, 96],
  ["r13", u64, 104],
  ["r14", u64, 112],
  ["r15", u64, 120],
  ["rip", u64, 128],
  ["rflags", u64, 136],
]);

export interface KvmSegment {
  base: bigint;
  limit: number;
  selector: number;
  type: number;
  present: number;
  dpl: number;
  db: number;
  s: number;
  l: number;
  g: number;
  avl: number;
  unusable: number;
  padding: number;
}
export const kvm_segment = new StructCodec<KvmSegment>("kvm_segment", 24, [
  ["base", u64, 0],
  ["limit", u32, 8],
  ["selector", u16, 12],
  ["type", u8, 14],
  ["present", u8, 15],
  ["dpl", u8, 16],
  ["db", u8, 17],
  ["s", u8, 18],
  ["l", u8, 19],
  ["g", u8, 20],
  ["avl", u8, 21],
  ["unusable", u8, 22],
  ["padding", u8, 23],
]);

export interface KvmDtable {
  base: bigint;
  limit: number;
  padding: number[];
}
export const kvm_dtable = new StructCodec<KvmDtable>("kvm_dtable", 16, [
  ["base", u64, 0],
  ["limit", u16, 8],
  ["padding", array("u16", 3), 10],
]);

export interface KvmSregs {
  cs: KvmSegment;
  ds: KvmSegment;
  es: KvmSegment;
  fs: KvmSegment;
  gs: KvmSegment;
  ss: KvmSegment;
  tr: KvmSegment;
  ldt: KvmSegment;
  gdt: KvmDtable;
  idt: KvmDtable;
  cr0: bigint;
  cr2: bigint;
  cr3: bigint;
  cr4: bigint;
  cr8: bigint;
  efer: bigint;
  apic_base: bigint;
  interrupt_bitmap: bigint[];
}
export const kvm_sregs = new StructCodec<KvmSregs>("kvm_sregs", 312, [
  ["cs", struct(kvm_segment), 0],
  ["ds", struct(kvm_segment), 24],
  ["es", struct(kvm_segment), 48],
  ["fs", struct(kvm_segment), 72],
  ["gs", struct(kvm_segment), 96],
  ["ss", struct(kvm_segment), 120],
  ["tr", struct(kvm_segment), 144],
  ["ldt", struct(kvm_segment), 168],
  ["gdt", struct(kvm_dtable), 192],
  ["idt", struct(kvm_dtable), 208],
  ["cr0", u64, 224],
  ["cr2", u64, 232],
  ["cr3", u64, 240],
  ["cr4", u64, 248],
  ["cr8", u64, 256],
  ["efer", u64, 264],
  ["apic_base", u64, 272],
  ["interrupt_bitmap", array("u64", 4), 280],
]);

export interface KvmFpu {
  fpr: Uint8Array;
  fcw: number;
  fsw: number;
  ftwx: number;
  pad1: number;
  last_opcode: number;
  last_ip: bigint;
  last_dp: bigint;
  xmm: Uint8Array;
  mxcsr: number;
  pad2: number;
}
export const kvm_fpu = new StructCodec<KvmFpu>("kvm_fpu", 416, [
  ["fpr", bytes(128), 0],
  ["fcw", u16, 128],
  ["fsw", u16, 130],
  ["ftwx", u8, 132],
  ["pad1", u8, 133],
  ["last_opcode", u16, 134],
  ["last_ip", u64, 136],
  ["last_dp", u64, 144],
  ["xmm", bytes(256), 152],
  ["mxcsr", u32, 408],
  ["pad2", u32, 412],
]);

export interface KvmVcpuEvents {
  exception: { injected: number; nr: number; has_error_code: number; pending: number; error_code: number };
  interrupt: { injected: number; nr: number; soft: number; shadow: number };
  nmi: { injected: number; pending: number; masked: number; pad: number };
  sipi_vector: number;
  flags: number;
  smi: { smm: number; pending: number; smm_inside_nmi: number; latched_init: number };
  triple_fault: { pending: number };
  reserved: Uint8Array;
  exception_has_payload: number;
  exception_payload: bigint;
}
const events_exception = new StructCodec<KvmVcpuEvents["exception"]>("exception", 8, [
  ["injected", u8, 0],
  ["nr", u8, 1],
  ["has_error_code", u8, 2],
  ["pending", u8, 3],
  ["error_code", u32, 4],
]);
const events_interrupt = new StructCodec<KvmVcpuEvents["interrupt"]>("interrupt", 4, [
  ["injected", u8, 0],
  ["nr", u8, 1],
  ["soft", u8, 2],
  ["shadow", u8, 3],
]);
const events_nmi = new StructCodec<KvmVcpuEvents["nmi"]>("nmi", 4, [
  ["injected", u8, 0],
  ["pending", u8, 1],
  ["masked", u8, 2],
  ["pad", u8, 3],
]);
const events_smi = new StructCodec<KvmVcpuEvents["smi"]>("smi", 4, [
  ["smm", u8, 0],
  ["pending", u8, 1],
  ["smm_inside_nmi", u8, 2],
  ["latched_init", u8, 3],
]);
const events_triple_fault = new StructCodec<KvmVcpuEvents["triple_fault"]>("triple_fault", 1, [["pending", u8, 0]]);
export const kvm_vcpu_events = new StructCodec<KvmVcpuEvents>("kvm_vcpu_events", 64, [
  ["exception", struct(events_exception), 0],
  ["interrupt", struct(events_interrupt), 8],
  ["nmi", struct(events_nmi), 12],
  ["sipi_vector", u32, 16],
  ["flags", u32, 20],
  ["smi", struct(events_smi), 24],
  ["triple_fault", struct(events_triple_fault), 28],
  ["reserved", bytes(26), 29],
  ["exception_has_payload", u8, 55],
  ["exception_payload", u64, 56],
]);

export interface KvmDebugregs {
  db: bigint[];
  dr6: bigint;
  dr7: bigint;
  flags: bigint;
  reserved: bigint[];
}
export const kvm_debugregs = new StructCodec<KvmDebugregs>("kvm_debugregs", 128, [
  ["db", array("u64", 4), 0],
  ["dr6", u64, 32],
  ["dr7", u64, 40],
  ["flags", u64, 48],
  ["reserved", array("u64", 9), 56],
]);

export interface KvmXcr {
  xcr: number;
  reserved: number;
  value: bigint;
}
export const kvm_xcr = new StructCodec<KvmXcr>("kvm_xcr", 16, [
  ["xcr", u32, 0],
  ["reserved", u32, 4],
  ["value", u64, 8],
]);
export interface KvmXcrs {
  nr_xcrs: number;
  flags: number;
  xcrs: KvmXcr[];
  padding: bigint[];
}
export const kvm_xcrs = new StructCodec<KvmXcrs>("kvm_xcrs", 392, [
  ["nr_xcrs", u32, 0],
  ["flags", u32, 4],
  ["xcrs", array(kvm_xcr as StructCodec<object>, 16), 8],
  ["padding", array("u64", 16), 264],
]);

export interface KvmXsave {
  region: Uint8Array;
}
export const kvm_xsave = new StructCodec<KvmXsave>("kvm_xsave", 4096, [["region", bytes(4096), 0]]);

export interface KvmLapicState {
  regs: Uint8Array;
}
export const kvm_lapic_state = new StructCodec<KvmLapicState>("kvm_lapic_state", 1024, [["regs", bytes(1024), 0]]);

export interface KvmMpState {
  mp_state: number;
}
export const kvm_mp_state = new StructCodec<KvmMpState>("kvm_mp_state", 4, [["mp_state", u32, 0]]);

export interface KvmCpuidEntry2 {
  function: number;
  index: number;
  flags: number;
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
  padding: number[];
}
export const kvm_cpuid_entry2 = new StructCodec<KvmCpuidEntry2>("kvm_cpuid_entry2", 40, [
  ["function", u32, 0],
  ["index", u32, 4],
  ["flags", u32, 8],
  ["eax", u32, 12],
  ["ebx", u32, 16],
  ["ecx", u32, 20],
  ["edx", u32, 24],
  ["padding", array("u32", 3), 28],
]);
/** Header of kvm_cpuid2; `entries` (kvm_cpuid_entry2[nent]) follow at offset 8. */
export const kvm_cpuid2 = new StructCodec<{ nent: number; padding: number }>("kvm_cpuid2", 8, [
  ["nent", u32, 0],
  ["padding", u32, 4],
]);

export interface KvmMsrEntry {
  index: number;
  reserved: number;
  data: bigint;
}
export const kvm_msr_entry = new StructCodec<KvmMsrEntry>("kvm_msr_entry", 16, [
  ["index", u32, 0],
  ["reserved", u32, 4],
  ["data", u64, 8],
]);
/** Header of kvm_msrs; `entries` (kvm_msr_entry[nmsrs]) follow at offset 8. */
export const kvm_msrs = new StructCodec<{ nmsrs: number; pad: number }>("kvm_msrs", 8, [
  ["nmsrs", u32, 0],
  ["pad", u32, 4],
]);
/** Header of kvm_msr_list; `indices` (u32[nmsrs]) follow at offset 4. */
export const kvm_msr_list = new StructCodec<{ nmsrs: number }>("kvm_msr_list", 4, [["nmsrs", u32, 0]]);

export interface KvmIrqchip {
  chip_id: number;
  pad: number;
  chip: Uint8Array;
}
export const kvm_irqchip = new StructCodec<KvmIrqchip>("kvm_irqchip", 520, [
  ["chip_id", u32, 0],
  ["pad", u32, 4],
  ["chip", bytes(512), 8],
]);

export interface KvmPitChannelState {
  count: number;
  latched_count: number;
  count_latched: number;
  status_latched: number;
  status: number;
  read_state: number;
  write_state: number;
  write_latch: number;
  rw_mode: number;
  mode: number;
  bcd: number;
  gate: number;
  count_load_time: bigint;
}
export const kvm_pit_channel_state = new StructCodec<KvmPitChannelState>("kvm_pit_channel_state", 24, [
  ["count", u32, 0],
  ["latched_count", u16, 4],
  ["count_latched", u8, 6],
  ["status_latched", u8, 7],
  ["status", u8, 8],
  ["read_state", u8, 9],
  ["write_state", u8, 10],
  ["write_latch", u8, 11],
  ["rw_mode", u8, 12],
  ["mode", u8, 13],
  ["bcd", u8, 14],
  ["gate", u8, 15],
  ["count_load_time", i64, 16],
]);
export interface KvmPitState2 {
  channels: KvmPitChannelState[];
  flags: number;
  reserved: number[];
}
export const kvm_pit_state2 = new StructCodec<KvmPitState2>("kvm_pit_state2", 112, [
  ["channels", array(kvm_pit_channel_state as StructCodec<object>, 3), 0],
  ["flags", u32, 72],
  ["reserved", array("u32", 9), 76],
]);

export interface KvmClockData {
  clock: bigint;
  flags: number;
  pad0: number;
  realtime: bigint;
  host_tsc: bigint;
  pad: number[];
}
export const kvm_clock_data = new StructCodec<KvmClockData>("kvm_clock_data", 48, [
  ["clock", u64, 0],
  ["flags", u32, 8],
  ["pad0", u32, 12],
  ["realtime", u64, 16],
  ["host_tsc", u64, 24],
  ["pad", array("u32", 4), 32],
]);

export interface KvmMsi {
  address_lo: number;
  address_hi: number;
  data: number;
  flags: number;
  devid: number;
  pad: Uint8Array;
}
export const kvm_msi = new StructCodec<KvmMsi>("kvm_msi", 32, [
  ["address_lo", u32, 0],
  ["address_hi", u32, 4],
  ["data", u32, 8],
  ["flags", u32, 12],
  ["devid", u32, 16],
  ["pad", bytes(12), 20],
]);

export interface KvmIrqRoutingEntry {
  gsi: number;
  type: number;
  flags: number;
  pad: number;
  /** The union: irqchip {irqchip u32, pin u32} or msi {address_lo, address_hi, data, devid}. */
  u: Uint8Array;
}
export const kvm_irq_routing_entry = new StructCodec<KvmIrqRoutingEntry>("kvm_irq_routing_entry", 48, [
  ["gsi", u32, 0],
  ["type", u32, 4],
  ["flags", u32, 8],
  ["pad", u32, 12],
  ["u", bytes(32), 16],
]);
/** Header of kvm_irq_routing; `entries` follow at offset 8. */
export const kvm_irq_routing = new StructCodec<{ nr: number; flags: number }>("kvm_irq_routing", 8, [
  ["nr", u32, 0],
  ["flags", u32, 4],
]);

export interface KvmIrqfd {
  fd: number;
  gsi: number;
  flags: number;
  resamplefd: number;
  pad: Uint8Array;
}
export const kvm_irqfd = new StructCodec<KvmIrqfd>("kvm_irqfd", 32, [
  ["fd", u32, 0],
  ["gsi", u32, 4],
  ["flags", u32, 8],
  ["resamplefd", u32, 12],
  ["pad", bytes(16), 16],
]);

export interface KvmIoeventfd {
  datamatch: bigint;
  addr: bigint;
  len: number;
  fd: number;
  flags: number;
  pad: Uint8Array;
}
export const kvm_ioeventfd = new StructCodec<KvmIoeventfd>("kvm_ioeventfd", 64, [
  ["datamatch", u64, 0],
  ["addr", u64, 8],
  ["len", u32, 16],
  ["fd", i32, 20],
  ["flags", u32, 24],
  ["pad", bytes(36), 28],
]);

export interface KvmCreateDevice {
  type: number;
  fd: number;
  flags: number;
}
export const kvm_create_device = new StructCodec<KvmCreateDevice>("kvm_create_device", 12, [
  ["type", u32, 0],
  ["fd", u32, 4],
  ["flags", u32, 8],
]);

export interface KvmDeviceAttr {
  flags: number;
  group: number;
  attr: bigint;
  addr: bigint;
}
export const kvm_device_attr = new StructCodec<KvmDeviceAttr>("kvm_device_attr", 24, [
  ["flags", u32, 0],
  ["group", u32, 4],
  ["attr", u64, 8],
  ["addr", u64, 16],
]);

export interface KvmEnableCap {
  cap: number;
  flags: number;
  args: bigint[];
  pad: Uint8Array;
}
export const kvm_enable_cap = new StructCodec<KvmEnableCap>("kvm_enable_cap", 104, [
  ["cap", u32, 0],
  ["flags", u32, 4],
  ["args", array("u64", 4), 8],
  ["pad", bytes(64), 40],
]);

export interface KvmGuestDebug {
  control: number;
  pad: number;
  arch: { debugreg: bigint[] };
}
const guest_debug_arch = new StructCodec<KvmGuestDebug["arch"]>("kvm_guest_debug_arch", 64, [
  ["debugreg", array("u64", 8), 0],
]);
export const kvm_guest_debug = new StructCodec<KvmGuestDebug>("kvm_guest_debug", 72, [
  ["control", u32, 0],
  ["pad", u32, 4],
  ["arch", struct(guest_debug_arch), 8],
]);

export interface KvmTranslation {
  linear_address: bigint;
  physical_address: bigint;
  valid: number;
  writeable: number;
  usermode: number;
  pad: Uint8Array;
}
export const kvm_translation = new StructCodec<KvmTranslation>("kvm_translation", 24, [
  ["linear_address", u64, 0],
  ["physical_address", u64, 8],
  ["valid", u8, 16],
  ["writeable", u8, 17],
  ["usermode", u8, 18],
  ["pad", bytes(5), 19],
]);

export interface KvmDirtyLog {
  slot: number;
  padding1: number;
  dirty_bitmap: bigint;
}
export const kvm_dirty_log = new StructCodec<KvmDirtyLog>("kvm_dirty_log", 16, [
  ["slot", u32, 0],
  ["padding1", u32, 4],
  ["dirty_bitmap", u64, 8],
]);

export interface KvmIrqLevel {
  irq: number;
  level: number;
}
export const kvm_irq_level = new StructCodec<KvmIrqLevel>("kvm_irq_level", 8, [
  ["irq", u32, 0],
  ["level", u32, 4],
]);

export interface KvmPitConfig {
  flags: number;
  pad: number[];
}
export const kvm_pit_config = new StructCodec<KvmPitConfig>("kvm_pit_config", 64, [
  ["flags", u32, 0],
  ["pad", array("u32", 15), 4],
]);

export interface KvmUserspaceMemoryRegion {
  slot: number;
  flags: number;
  guest_phys_addr: bigint;
  memory_size: bigint;
  userspace_addr: bigint;
}
export const kvm_userspace_memory_region = new StructCodec<KvmUserspaceMemoryRegion>(
  "kvm_userspace_memory_region",
  32,
  [
    ["slot", u32, 0],
    ["flags", u32, 4],
    ["guest_phys_addr", u64, 8],
    ["memory_size", u64, 16],
    ["userspace_addr", u64, 24],
  ],
);

/** kvm_run's fixed part (the exit union is decoded by VcpuExit). */
export const KVM_RUN_OFFSETS = {
  request_interrupt_window: 0,
  immediate_exit: 1,
  exit_reason: 8,
  ready_for_interrupt_injection: 12,
  if_flag: 13,
  flags: 14,
  cr8: 16,
  apic_base: 24,
  exit: 32,
  kvm_valid_regs: 288,
  kvm_dirty_regs: 296,
  s: 304,
  sync_regs_regs: 304,
  sync_regs_sregs: 304 + 144,
  sync_regs_events: 304 + 456,
  size: 2352,
} as const;

/** Every codec, for the layout test and for tools. */
export const ALL_STRUCTS: ReadonlyArray<StructCodec<object>> = [
  kvm_regs,
  kvm_segment,
  kvm_dtable,
  kvm_sregs,
  kvm_fpu,
  kvm_vcpu_events,
  kvm_debugregs,
  kvm_xcrs,
  kvm_xsave,
  kvm_lapic_state,
  kvm_mp_state,
  kvm_cpuid_entry2,
  kvm_cpuid2,
  kvm_msr_entry,
  kvm_msrs,
  kvm_msr_list,
  kvm_irqchip,
  kvm_pit_channel_state,
  kvm_pit_state2,
  kvm_clock_data,
  kvm_msi,
  kvm_irq_routing_entry,
  kvm_irq_routing,
  kvm_irqfd,
  kvm_ioeventfd,
  kvm_create_device,
  kvm_device_attr,
  kvm_enable_cap,
  kvm_guest_debug,
  kvm_translation,
  kvm_dirty_log,
  kvm_irq_level,
  kvm_pit_config,
  kvm_userspace_memory_region,
] as unknown as ReadonlyArray<StructCodec<object>>;
