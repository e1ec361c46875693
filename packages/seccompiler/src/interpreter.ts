/**
 * A classic-BPF interpreter for seccomp programs. It first checks a program as
 * the kernel does (seccomp_check_filter + bpf_check_classic: allowed opcodes,
 * aligned loads inside seccomp_data, jumps inside the program, a final RET,
 * no constant division by zero, no read of unwritten scratch memory), then runs
 * it on a seccomp_data and reports the return value and the number of
 * instructions executed.
 */
import {
  BPF_A,
  BPF_ABS,
  BPF_ADD,
  BPF_ALU,
  BPF_AND,
  BPF_DIV,
  BPF_IMM,
  BPF_JA,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JMP,
  BPF_JSET,
  BPF_K,
  BPF_LD,
  BPF_LDX,
  BPF_LEN,
  BPF_LSH,
  BPF_MAXINSNS,
  BPF_MEM,
  BPF_MEMWORDS,
  BPF_MISC,
  BPF_MUL,
  BPF_NEG,
  BPF_OR,
  BPF_RET,
  BPF_RSH,
  BPF_ST,
  BPF_STX,
  BPF_SUB,
  BPF_TAX,
  BPF_TXA,
  BPF_W,
  BPF_X,
  BPF_XOR,
  type BpfInsn,
  decodeProgram,
  SECCOMP_DATA_SIZE,
} from "./bpf.js";
import { BpfProgramError } from "./errors.js";
import { retToAction, type SeccompAction, type SeccompData } from "./model.js";

const ALLOWED = new Set<number>([
  BPF_LD | BPF_W | BPF_ABS,
  BPF_LD | BPF_W | BPF_LEN,
  BPF_LDX | BPF_W | BPF_LEN,
  BPF_RET | BPF_K,
  BPF_RET | BPF_A,
  ...[BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_AND, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH].flatMap((op) => [
    BPF_ALU | op | BPF_K,
    BPF_ALU | op | BPF_X,
  ]),
  BPF_ALU | BPF_NEG,
  BPF_LD | BPF_IMM,
  BPF_LDX | BPF_IMM,
  BPF_MISC | BPF_TAX,
  BPF_MISC | BPF_TXA,
  BPF_LD | BPF_MEM,
  BPF_LDX | BPF_MEM,
  BPF_ST,
  BPF_STX,
  BPF_JMP | BPF_JA,
  ...[BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JSET].flatMap((op) => [BPF_JMP | op | BPF_K, BPF_JMP | op | BPF_X]),
]);

const isCondJump = (code: number) => (code & 0x07) === BPF_JMP && (code & 0xf0) !== BPF_JA;

/** A program checked once and ready to run many times. */
export class BpfProgram {
  readonly insns: readonly BpfInsn[];

  /** Checks `bytes` like the kernel; throws {@link BpfProgramError} when it would refuse it. */
  constructor(bytes: Uint8Array) {
    if (bytes.byteLength % 8 !== 0) throw new BpfProgramError("length is not a multiple of 8 bytes");
    const insns = decodeProgram(bytes);
    const len = insns.length;
    if (len === 0 || len > BPF_MAXINSNS) throw new BpfProgramError(`${len} instructions (1..${BPF_MAXINSNS} allowed)`);
    insns.forEach((x, pc) => {
      if (!ALLOWED.has(x.code)) throw new BpfProgramError(`opcode 0x${x.code.toString(16)} not allowed in seccomp`, pc);
      const cls = x.code & 0x07;
      if (x.code === (BPF_LD | BPF_W | BPF_ABS) && (x.k % 4 !== 0 || x.k >= SECCOMP_DATA_SIZE)) {
        throw new BpfProgramError(`load offset ${x.k} outside seccomp_data or unaligned`, pc);
      }
      if (cls === BPF_ALU && (x.code & BPF_X) === 0) {
        const op = x.code & 0xf0;
        if (op === BPF_DIV && x.k === 0) throw new BpfProgramError("division by constant zero", pc);
        if ((op === BPF_LSH || op === BPF_RSH) && x.k >= 32) throw new BpfProgramError("shift by 32 or more", pc);
      }
      if (
        (x.code === (BPF_LD | BPF_MEM) || x.code === (BPF_LDX | BPF_MEM) || cls === BPF_ST || cls === BPF_STX) &&
        x.k >= BPF_MEMWORDS
      ) {
        throw new BpfProgramError(`scratch memory index ${x.k} >= ${BPF_MEMWORDS}`, pc);
      }
      if (x.code === (BPF_JMP | BPF_JA)) {
        if (x.k >= len - pc - 1) throw new BpfProgramError("jump out of the program", pc);
      } else if (isCondJump(x.code)) {
        if (pc + 1 + x.jt >= len || pc + 1 + x.jf >= len) throw new BpfProgramError("jump out of the program", pc);
      }
    });
    const last = insns[len - 1]!.code;
    if (last !== (BPF_RET | BPF_K) && last !== (BPF_RET | BPF_A)) {
      throw new BpfProgramError("the last instruction is not a RET", len - 1);
    }
    // bpf_check_classic's check_load_and_stores: no read of scratch memory before a write on every path.
    const masks = new Array<number>(len).fill(0xffff);
    let memvalid = 0;
    insns.forEach((x, pc) => {
      memvalid &= masks[pc]!;
      if ((x.code & 0x07) === BPF_ST || (x.code & 0x07) === BPF_STX) memvalid |= 1 << x.k;
      else if (x.code === (BPF_LD | BPF_MEM) || x.code === (BPF_LDX | BPF_MEM)) {
        if (!(memvalid & (1 << x.k))) throw new BpfProgramError(`read of scratch memory M[${x.k}] before a write`, pc);
      } else if (x.code === (BPF_JMP | BPF_JA)) {
        masks[pc + 1 + x.k]! &= memvalid;
        memvalid = 0xffff;
      } else if (isCondJump(x.code)) {
        masks[pc + 1 + x.jt]! &= memvalid;
        masks[pc + 1 + x.jf]! &= memvalid;
        memvalid = 0xffff;
      }
    });
    this.insns = insns;
  }

  /** Runs the program. `data.arch` is required here (it is what the kernel passes). */
  run(data: SeccompData & { arch: number }): BpfResult {
    return this.exec(data, undefined);
  }

  /** Runs the program and lists the index of every instruction executed, in order. */
  trace(data: SeccompData & { arch: number }): BpfResult & { path: number[] } {
    const path: number[] = [];
    return { ...this.exec(data, path), path };
  }

  private exec(data: SeccompData & { arch: number }, path: number[] | undefined): BpfResult {
    const words = seccompDataWords(data);
    const insns = this.insns;
    const mem = new Uint32Array(BPF_MEMWORDS);
    let a = 0;
    let x = 0;
    let pc = 0;
    let executed = 0;
    for (;;) {
      const insn = insns[pc]!;
      path?.push(pc);
      executed++;
      pc++;
      const k = insn.k;
      switch (insn.code) {
        case BPF_LD | BPF_W | BPF_ABS:
          a = words[k >>> 2]!;
          break;
        case BPF_LD | BPF_W | BPF_LEN:
          a = SECCOMP_DATA_SIZE;
          break;
        case BPF_LDX | BPF_W | BPF_LEN:
          x = SECCOMP_DATA_SIZE;
          break;
        case BPF_LD | BPF_IMM:
          a = k;
          break;
        case BPF_LDX | BPF_IMM:
          x = k;
          break;
        case BPF_LD | BPF_MEM:
          a = mem[k]!;
          break;
        case BPF_LDX | BPF_MEM:
          x = mem[k]!;
          break;
        case BPF_ST:
          mem[k] = a;
          break;
        case BPF_STX:
          mem[k] = x;
          break;
        case BPF_MISC | BPF_TAX:
          x = a;
          break;
        case BPF_MISC | BPF_TXA:
          a = x;
          break;
        case BPF_RET | BPF_K:
          return result(k, executed);
        case BPF_RET | BPF_A:
          return result(a, executed);
        case BPF_JMP | BPF_JA:
          pc += k;
          break;
        case BPF_ALU | BPF_NEG:
          a = -a >>> 0;
          break;
        default: {
          const cls = insn.code & 0x07;
          const src = insn.code & BPF_X ? x : k;
          const op = insn.code & 0xf0;
          if (cls === BPF_JMP) {
            let t: boolean;
            if (op === BPF_JEQ) t = a === src;
            else if (op === BPF_JGT) t = a > src;
            else if (op === BPF_JGE) t = a >= src;
            else t = (a & src) !== 0; // JSET
            pc += t ? insn.jt : insn.jf;
          } else {
            // ALU (checked in the constructor)
            switch (op) {
              case BPF_ADD:
                a = (a + src) >>> 0;
                break;
              case BPF_SUB:
                a = (a - src) >>> 0;
                break;
              case BPF_MUL:
                a = Math.imul(a, src) >>> 0;
                break;
              case BPF_DIV:
                // A division by X == 0 ends the program with 0 (as the kernel's converted program does).
                if (src === 0) return result(0, executed);
                a = Math.floor(a / src) >>> 0;
                break;
              case BPF_AND:
                a = (a & src) >>> 0;
                break;
              case BPF_OR:
                a = (a | src) >>> 0;
                break;
              case BPF_XOR:
                a = (a ^ src) >>> 0;
                break;
              case BPF_LSH:
                a = src >= 32 ? 0 : (a << src) >>> 0;
                break;
              case BPF_RSH:
                a = src >= 32 ? 0 : a >>> src;
                break;
            }
          }
        }
      }
    }
  }
}

export interface BpfResult {
  /** The 32-bit value the program returned. */
  ret: number;
  /** The action it means (an unknown action reads as kill_process, as in the kernel). */
  action: SeccompAction;
  /** Instructions executed, the final RET included. */
  executed: number;
}

function result(ret: number, executed: number): BpfResult {
  return { ret: ret >>> 0, action: retToAction(ret >>> 0), executed };
}

/** struct seccomp_data as the 16 little-endian 32-bit words a program loads. */
export function seccompDataWords(data: SeccompData & { arch: number }): Uint32Array {
  const w = new Uint32Array(SECCOMP_DATA_SIZE / 4);
  w[0] = data.nr >>> 0;
  w[1] = data.arch >>> 0;
  const ip = BigInt.asUintN(64, data.instructionPointer ?? 0n);
  w[2] = Number(ip & 0xffffffffn);
  w[3] = Number(ip >> 32n);
  const args = data.args ?? [];
  for (let i = 0; i < 6; i++) {
    const v = BigInt.asUintN(64, args[i] ?? 0n);
    w[4 + 2 * i] = Number(v & 0xffffffffn);
    w[5 + 2 * i] = Number(v >> 32n);
  }
  return w;
}

/** Checks and runs `program` once on `data`. */
export function runBpf(program: Uint8Array, data: SeccompData & { arch: number }): BpfResult {
  return new BpfProgram(program).run(data);
}
