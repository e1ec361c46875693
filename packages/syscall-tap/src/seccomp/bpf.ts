/**
 * The seccomp filter of the seccomp platform: classic BPF that lets a small
 * allow-list run natively and turns every other system call into a user
 * notification (SECCOMP_RET_USER_NOTIF).
 */
import {
  AUDIT_ARCH_X86_64,
  BPF_JMP_JEQ_K,
  BPF_JMP_JGE_K,
  BPF_JMP_JGT_K,
  BPF_JMP_JSET_K,
  BPF_LD_W_ABS,
  BPF_RET_K,
  MAP_ANONYMOUS,
  SECCOMP_DATA_ARCH,
  SECCOMP_DATA_ARGS,
  SECCOMP_DATA_IP,
  SECCOMP_DATA_NR,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_USER_NOTIF,
} from "./abi.js";

/** A half-open range of instruction-pointer values [start, end). */
export interface IpRange {
  start: bigint;
  end: bigint;
}

export interface GatedUserNotifFilterOptions {
  /** System call numbers run natively (never notified). */
  allow: readonly number[];
  /**
   * mmap (9) is allowed natively only when its flags carry MAP_ANONYMOUS;
   * a file-backed mmap is notified (the fd may be one the server virtualizes).
   * Default true; false notifies every mmap unless `allow` lists 9.
   */
  anonymousMmapOnly?: boolean;
  /**
   * The spawn gate: these system calls run natively when made from an
   * instruction pointer inside `ranges` (the spawning process's libc, between
   * the filter's installation and execve). See `spawnGate()`.
   */
  gate?: {
    nrs: readonly number[];
    ranges: readonly IpRange[];
    /** Per system call, an exact value its argument `arg` must have to pass the gate (e.g. write's count). */
    argEquals?: ReadonlyArray<{ nr: number; arg: number; value: number }>;
  };
}

export class FilterError extends Error {
  override readonly name = "FilterError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface Insn {
  code: number;
  jt: number | string;
  jf: number | string;
  k: number;
  label?: string;
}

const SYS_mmap = 9;

/** Builds the filter as an array of 8-byte `struct sock_filter`. */
export function gatedUserNotifFilter(options: GatedUserNotifFilterOptions): Uint8Array {
  const prog: Insn[] = [];
  const emit = (code: number, k: number, jt: number | string = 0, jf: number | string = 0, label?: string) => {
    const i: Insn = { code, jt, jf, k: k >>> 0 };
    if (label !== undefined) i.label = label;
    prog.push(i);
  };
  const anonOnly = options.anonymousMmapOnly ?? true;
  const allow = [...new Set(options.allow)].filter((nr) => !(anonOnly && nr === SYS_mmap));
  for (const nr of allow) {
    if (!Number.isInteger(nr) || nr < 0 || nr > 0xffffffff) throw new FilterError("EINVAL", `bad syscall number ${nr}`);
  }

  emit(BPF_LD_W_ABS, SECCOMP_DATA_ARCH);
  emit(BPF_JMP_JEQ_K, AUDIT_ARCH_X86_64, 0, "kill");
  emit(BPF_LD_W_ABS, SECCOMP_DATA_NR);
  for (const nr of allow) emit(BPF_JMP_JEQ_K, nr, "allow", 0);
  if (anonOnly) emit(BPF_JMP_JEQ_K, SYS_mmap, "mmap", 0);
  const gate = options.gate;
  const argChecks = gate?.argEquals ?? [];
  if (gate && gate.ranges.length > 0) {
    for (const nr of new Set(gate.nrs)) {
      const k = argChecks.findIndex((c) => c.nr === nr);
      emit(BPF_JMP_JEQ_K, nr, k >= 0 ? `argcheck${k}` : "gate0", 0);
    }
  }
  emit(BPF_RET_K, SECCOMP_RET_USER_NOTIF);

  if (gate && gate.ranges.length > 0) {
    argChecks.forEach((c, k) => {
      if (!Number.isInteger(c.arg) || c.arg < 0 || c.arg > 5 || !Number.isSafeInteger(c.value) || c.value < 0) {
        throw new FilterError("EINVAL", `bad gate argument check ${JSON.stringify(c)}`);
      }
      emit(BPF_LD_W_ABS, SECCOMP_DATA_ARGS + c.arg * 8, 0, 0, `argcheck${k}`);
      emit(BPF_JMP_JEQ_K, c.value % 2 ** 32, 0, "notif");
      emit(BPF_LD_W_ABS, SECCOMP_DATA_ARGS + c.arg * 8 + 4);
      emit(BPF_JMP_JEQ_K, Math.floor(c.value / 2 ** 32), "gate0", "notif");
    });
    gate.ranges.forEach((r, i) => {
      if (r.start < 0n || r.end > 0xffffffffffffffffn || r.start >= r.end) {
        throw new FilterError("EINVAL", `bad gate range 0x${r.start.toString(16)}-0x${r.end.toString(16)}`);
      }
      const next = i + 1 < gate.ranges.length ? `gate${i + 1}` : "notif";
      const sHi = Number(r.start >> 32n);
      const sLo = Number(r.start & 0xffffffffn);
      const last = r.end - 1n; // inclusive upper bound: ip <= last
      const eHi = Number(last >> 32n);
      const eLo = Number(last & 0xffffffffn);
      // ip >= start
      emit(BPF_LD_W_ABS, SECCOMP_DATA_IP + 4, 0, 0, `gate${i}`);
      emit(BPF_JMP_JGT_K, sHi, `end${i}`, 0);
      emit(BPF_JMP_JEQ_K, sHi, 0, next);
      emit(BPF_LD_W_ABS, SECCOMP_DATA_IP);
      emit(BPF_JMP_JGE_K, sLo, `end${i}`, next);
      // ip <= last
      emit(BPF_LD_W_ABS, SECCOMP_DATA_IP + 4, 0, 0, `end${i}`);
      emit(BPF_JMP_JGT_K, eHi, next, 0);
      emit(BPF_JMP_JEQ_K, eHi, 0, "allow");
      emit(BPF_LD_W_ABS, SECCOMP_DATA_IP);
      emit(BPF_JMP_JGT_K, eLo, next, "allow");
    });
  }
  if (anonOnly) {
    emit(BPF_LD_W_ABS, SECCOMP_DATA_ARGS + 3 * 8, 0, 0, "mmap"); // low word of args[3] (flags)
    emit(BPF_JMP_JSET_K, MAP_ANONYMOUS, "allow", "notif");
  }
  emit(BPF_RET_K, SECCOMP_RET_ALLOW, 0, 0, "allow");
  emit(BPF_RET_K, SECCOMP_RET_USER_NOTIF, 0, 0, "notif");
  emit(BPF_RET_K, SECCOMP_RET_KILL_PROCESS, 0, 0, "kill");

  const labels = new Map<string, number>();
  prog.forEach((insn, pc) => {
    if (insn.label !== undefined) labels.set(insn.label, pc);
  });
  const out = new Uint8Array(prog.length * 8);
  const dv = new DataView(out.buffer);
  prog.forEach((insn, pc) => {
    const rel = (t: number | string): number => {
      if (typeof t === "number") return t;
      const target = labels.get(t);
      if (target === undefined) throw new FilterError("EINVAL", `no label ${t}`);
      const off = target - pc - 1;
      if (off < 0 || off > 255) throw new FilterError("E2BIG", `jump to ${t} out of range (${off})`);
      return off;
    };
    dv.setUint16(pc * 8, insn.code, true);
    dv.setUint8(pc * 8 + 2, rel(insn.jt));
    dv.setUint8(pc * 8 + 3, rel(insn.jf));
    dv.setUint32(pc * 8 + 4, insn.k, true);
  });
  if (prog.length > 4096) throw new FilterError("E2BIG", `filter of ${prog.length} instructions exceeds BPF_MAXINSNS`);
  return out;
}
