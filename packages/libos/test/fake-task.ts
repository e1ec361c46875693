/**
 * An in-memory TaskControl / ProgramMemory / SyscallEvent for unit tests of
 * the libos (core and file side): program memory is one ArrayBuffer mapped at
 * `base`, registers are a plain object, events are built from numbers/bigints.
 */
import {
  type FaultEvent,
  MemoryFault,
  type ProgramMemory,
  type Registers,
  Resume,
  type SyscallEvent,
  type TaskControl,
} from "@kindling/syscall-tap";
import { SYS, type SyscallName } from "../src/sysno.js";

export class FakeMemory implements ProgramMemory {
  readonly bytes: Uint8Array;
  readonly dv: DataView;
  readonly aliases = true;
  constructor(
    readonly base: number,
    readonly size: number,
  ) {
    this.bytes = new Uint8Array(size);
    this.dv = new DataView(this.bytes.buffer);
  }
  contains(addr: number, len: number): boolean {
    return (
      Number.isSafeInteger(addr) &&
      Number.isSafeInteger(len) &&
      len >= 0 &&
      addr >= this.base &&
      addr + len <= this.base + this.size
    );
  }
  private off(addr: number, len: number): number {
    if (!this.contains(addr, len)) throw new MemoryFault(addr, len);
    return addr - this.base;
  }
  read(addr: number, len: number): Uint8Array {
    const o = this.off(addr, len);
    return this.bytes.slice(o, o + len);
  }
  view(addr: number, len: number): Uint8Array {
    const o = this.off(addr, len);
    return this.bytes.subarray(o, o + len);
  }
  write(addr: number, data: Uint8Array): void {
    this.bytes.set(data, this.off(addr, data.length));
  }
  fill(addr: number, len: number, byte: number): void {
    const o = this.off(addr, len);
    this.bytes.fill(byte, o, o + len);
  }
  readCString(addr: number, max: number): Uint8Array | null {
    for (let i = 0; i < max; i++) {
      const o = this.off(addr + i, 1);
      if (this.bytes[o] === 0) return this.bytes.slice(o - i, o);
    }
    return null;
  }
  readU32(addr: number): number {
    return this.dv.getUint32(this.off(addr, 4), true);
  }
  writeU32(addr: number, value: number): void {
    this.dv.setUint32(this.off(addr, 4), value >>> 0, true);
  }
  readU64(addr: number): number {
    return Number(this.dv.getBigUint64(this.off(addr, 8), true));
  }
  writeU64(addr: number, value: number): void {
    this.dv.setBigUint64(this.off(addr, 8), BigInt.asUintN(64, BigInt(value)), true);
  }
  readBigU64(addr: number): bigint {
    return this.dv.getBigUint64(this.off(addr, 8), true);
  }
  writeBigU64(addr: number, value: bigint): void {
    this.dv.setBigUint64(this.off(addr, 8), BigInt.asUintN(64, value), true);
  }
  // helpers for tests
  i32(addr: number): number {
    return this.dv.getInt32(this.off(addr, 4), true);
  }
  i64(addr: number): bigint {
    return this.dv.getBigInt64(this.off(addr, 8), true);
  }
  writeCString(addr: number, s: string): void {
    this.write(addr, new TextEncoder().encode(`${s}\0`));
  }
  cstring(addr: number): string {
    const b = this.readCString(addr, 4096);
    return b === null ? "" : new TextDecoder().decode(b);
  }
}

export function zeroRegisters(): Registers {
  return {
    rax: 0n,
    rbx: 0n,
    rcx: 0n,
    rdx: 0n,
    rsi: 0n,
    rdi: 0n,
    rsp: 0n,
    rbp: 0n,
    r8: 0n,
    r9: 0n,
    r10: 0n,
    r11: 0n,
    r12: 0n,
    r13: 0n,
    r14: 0n,
    r15: 0n,
    rip: 0n,
    rflags: 0x202n,
  };
}

export class FakeTask implements TaskControl {
  regs: Registers = zeroRegisters();
  fsBase = 0n;
  gsBase = 0n;
  /** A 512-byte FXSAVE image by default; set a longer one to test XSAVE frames. */
  xstate: Uint8Array = new Uint8Array(512);
  constructor(
    readonly memory: FakeMemory,
    readonly nativeMemory = false,
  ) {}
  getRegisters(): Registers {
    return { ...this.regs };
  }
  setRegisters(regs: Registers): void {
    this.regs = { ...regs };
  }
  getFsBase(): bigint {
    return this.fsBase;
  }
  setFsBase(v: bigint): void {
    this.fsBase = v;
  }
  getGsBase(): bigint {
    return this.gsBase;
  }
  setGsBase(v: bigint): void {
    this.gsBase = v;
  }
  getExtendedState(): Uint8Array {
    return this.xstate.slice();
  }
  setExtendedState(state: Uint8Array): void {
    if (state.length !== this.xstate.length) throw new Error("bad extended state size");
    this.xstate = state.slice();
  }
}

export type Arg = number | bigint;

export class FakeEvent implements SyscallEvent {
  readonly kind = "syscall" as const;
  readonly args = new BigUint64Array(6);
  constructor(
    readonly nr: number,
    args: readonly Arg[] = [],
  ) {
    for (let i = 0; i < 6; i++) this.args[i] = BigInt.asUintN(64, BigInt(args[i] ?? 0));
  }
  arg(i: number): number {
    return Number(this.args[i]);
  }
  argI32(i: number): number {
    return Number(BigInt.asIntN(32, this.args[i]));
  }
  argU64(i: number): bigint {
    return this.args[i];
  }
}

export function fault(vector: number, errorCode = 0, address = 0): FaultEvent {
  return { kind: "fault", vector, errorCode, address };
}

/** The server shape a harness drives (a Libos). */
export interface Server {
  onSyscall(task: TaskControl, ev: SyscallEvent, outcome: { resume: Resume }): number;
  onFault(task: TaskControl, ev: FaultEvent, outcome: { resume: Resume }): void;
}

/** Drives a server with one fake task: `h.call("getpid")` → rax. */
export class Harness {
  readonly mem: FakeMemory;
  readonly task: FakeTask;
  readonly out = { resume: Resume.Return as Resume };
  /** Scratch area at the bottom of memory for test structures. */
  readonly scratch: number;
  constructor(
    readonly server: Server,
    mem: FakeMemory,
    nativeMemory = false,
  ) {
    this.mem = mem;
    this.task = new FakeTask(mem, nativeMemory);
    this.scratch = mem.base;
  }
  call(name: SyscallName | number, ...args: Arg[]): number {
    this.out.resume = Resume.Return;
    const nr = typeof name === "number" ? name : SYS[name];
    return this.server.onSyscall(this.task, new FakeEvent(nr, args), this.out);
  }
  fault(vector: number, errorCode = 0, address = 0): void {
    this.out.resume = Resume.Return;
    this.server.onFault(this.task, fault(vector, errorCode, address), this.out);
  }
  get resume(): Resume {
    return this.out.resume;
  }
}
