/**
 * Classic BPF as seccomp uses it: instruction encoding (struct sock_filter,
 * 8 bytes, host byte order = little-endian on x86_64 and aarch64), the
 * seccomp_data layout, return values, and a disassembler.
 */

// Instruction classes and fields (linux/bpf_common.h).
export const BPF_LD = 0x00;
export const BPF_LDX = 0x01;
export const BPF_ST = 0x02;
export const BPF_STX = 0x03;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_RET = 0x06;
export const BPF_MISC = 0x07;
export const BPF_W = 0x00;
export const BPF_IMM = 0x00;
export const BPF_ABS = 0x20;
export const BPF_MEM = 0x60;
export const BPF_LEN = 0x80;
export const BPF_ADD = 0x00;
export const BPF_SUB = 0x10;
export const BPF_MUL = 0x20;
export const BPF_DIV = 0x30;
export const BPF_OR = 0x40;
export const BPF_AND = 0x50;
export const BPF_LSH = 0x60;
export const BPF_RSH = 0x70;
export const BPF_NEG = 0x80;
export const BPF_XOR = 0xa0;
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;
export const BPF_K = 0x00;
export const BPF_X = 0x08;
export const BPF_A = 0x10;
export const BPF_TAX = 0x00;
export const BPF_TXA = 0x80;
/** BPF_MAXINSNS: the kernel refuses longer seccomp programs. */
export const BPF_MAXINSNS = 4096;
/** Scratch memory words (BPF_MEMWORDS). */
export const BPF_MEMWORDS = 16;

// seccomp return values (linux/seccomp.h).
export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_KILL_THREAD = 0x00000000;
export const SECCOMP_RET_TRAP = 0x00030000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_USER_NOTIF = 0x7fc00000;
export const SECCOMP_RET_TRACE = 0x7ff00000;
export const SECCOMP_RET_LOG = 0x7ffc0000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
export const SECCOMP_RET_ACTION_FULL = 0xffff0000;
export const SECCOMP_RET_DATA = 0x0000ffff;

// struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; }
export const SECCOMP_DATA_NR_OFFSET = 0;
export const SECCOMP_DATA_ARCH_OFFSET = 4;
export const SECCOMP_DATA_IP_OFFSET = 8;
export const SECCOMP_DATA_ARGS_OFFSET = 16;
export const SECCOMP_DATA_SIZE = 64;

// linux/audit.h
export const AUDIT_ARCH_X86_64 = 0xc000003e;
export const AUDIT_ARCH_AARCH64 = 0xc00000b7;
/** x86_64 syscall numbers with this bit are the x32 ABI (same AUDIT_ARCH). */
export const X32_SYSCALL_BIT = 0x40000000;

/** One sock_filter. */
export interface BpfInsn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

export const stmt = (code: number, k: number): BpfInsn => ({ code, jt: 0, jf: 0, k: k >>> 0 });
export const jump = (code: number, k: number, jt: number, jf: number): BpfInsn => ({ code, jt, jf, k: k >>> 0 });

/** Encodes instructions as the kernel's sock_filter array (little-endian). */
export function encodeProgram(insns: readonly BpfInsn[]): Uint8Array {
  const out = new Uint8Array(insns.length * 8);
  const dv = new DataView(out.buffer);
  insns.forEach((insn, n) => {
    dv.setUint16(n * 8, insn.code, true);
    dv.setUint8(n * 8 + 2, insn.jt);
    dv.setUint8(n * 8 + 3, insn.jf);
    dv.setUint32(n * 8 + 4, insn.k >>> 0, true);
  });
  return out;
}

/** Decodes a sock_filter array. Its length must be a multiple of 8. */
export function decodeProgram(bytes: Uint8Array): BpfInsn[] {
  if (bytes.byteLength % 8 !== 0) throw new RangeError("a BPF program is a whole number of 8-byte instructions");
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const insns: BpfInsn[] = [];
  for (let o = 0; o < bytes.byteLength; o += 8) {
    insns.push({
      code: dv.getUint16(o, true),
      jt: dv.getUint8(o + 2),
      jf: dv.getUint8(o + 3),
      k: dv.getUint32(o + 4, true),
    });
  }
  return insns;
}

const hex = (n: number) => `0x${(n >>> 0).toString(16)}`;

/** A readable listing, one instruction per line, in the style of bpf_dbg. */
export function disassemble(bytes: Uint8Array): string {
  const insns = decodeProgram(bytes);
  const jmpNames: Record<number, string> = { [BPF_JEQ]: "jeq", [BPF_JGT]: "jgt", [BPF_JGE]: "jge", [BPF_JSET]: "jset" };
  const aluNames: Record<number, string> = {
    [BPF_ADD]: "add",
    [BPF_SUB]: "sub",
    [BPF_MUL]: "mul",
    [BPF_DIV]: "div",
    [BPF_OR]: "or",
    [BPF_AND]: "and",
    [BPF_LSH]: "lsh",
    [BPF_RSH]: "rsh",
    [BPF_XOR]: "xor",
  };
  return insns
    .map((x, pc) => {
      const cls = x.code & 0x07;
      let s: string;
      if (x.code === (BPF_LD | BPF_W | BPF_ABS)) s = `ld [${x.k}]`;
      else if (x.code === (BPF_RET | BPF_K)) s = `ret ${hex(x.k)}`;
      else if (x.code === (BPF_RET | BPF_A)) s = "ret a";
      else if (x.code === (BPF_JMP | BPF_JA)) s = `ja ${pc + 1 + x.k}`;
      else if (cls === BPF_JMP) {
        const src = x.code & BPF_X ? "x" : hex(x.k);
        s = `${jmpNames[x.code & 0xf0] ?? "j?"} ${src}, ${pc + 1 + x.jt}, ${pc + 1 + x.jf}`;
      } else if (cls === BPF_ALU) {
        s =
          (x.code & 0xf0) === BPF_NEG
            ? "neg"
            : `${aluNames[x.code & 0xf0] ?? "alu?"} ${x.code & BPF_X ? "x" : hex(x.k)}`;
      } else s = `code=${hex(x.code)} jt=${x.jt} jf=${x.jf} k=${hex(x.k)}`;
      return `${String(pc).padStart(4)}: ${s}`;
    })
    .join("\n");
}
