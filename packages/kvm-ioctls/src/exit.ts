/**
 * VcpuExit: why KVM_RUN returned, decoded from the mmapped kvm_run without
 * copying. `data` fields are views into kvm_run: for IoIn and MmioRead the
 * VMM writes the value the guest reads into them before the next run().
 * An exit object is valid until the next run() of the same vCPU (objects are
 * reused so the hot path does not allocate).
 */
export type VcpuExit =
  | { kind: "IoIn"; port: number; size: number; count: number; data: Uint8Array }
  | { kind: "IoOut"; port: number; size: number; count: number; data: Uint8Array }
  | { kind: "MmioRead"; address: number; data: Uint8Array }
  | { kind: "MmioWrite"; address: number; data: Uint8Array }
  | { kind: "Hlt" }
  | { kind: "Shutdown" }
  | { kind: "FailEntry"; hardwareEntryFailureReason: bigint; cpu: number }
  | { kind: "InternalError"; suberror: number; data: bigint[] }
  | { kind: "SystemEvent"; type: number; flags: bigint; data: bigint[] }
  | { kind: "Debug"; exception: number; pc: bigint; dr6: bigint; dr7: bigint }
  | { kind: "Hypercall"; nr: bigint; args: bigint[]; ret: bigint }
  | { kind: "IrqWindowOpen" }
  | { kind: "Intr" }
  | { kind: "X86Rdmsr"; index: number; reason: number }
  | { kind: "X86Wrmsr"; index: number; reason: number; data: bigint }
  | { kind: "Unsupported"; reason: number };

export type VcpuExitKind = VcpuExit["kind"];

/** KVM_SYSTEM_EVENT_* types. */
export const SystemEventType = {
  Shutdown: 1,
  Reset: 2,
  Crash: 3,
  Wakeup: 4,
  Suspend: 5,
  Sev: 6,
} as const;
