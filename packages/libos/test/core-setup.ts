import { type Clock, Libos, type LibosOptions } from "@kindling/libos";
import { FakeMemory, Harness } from "./fake-task.js";

/** Program memory: [MEM_BASE, MEM_BASE + MEM_SIZE). The arena mmap/brk use is its upper part. */
export const MEM_BASE = 0x10000;
export const MEM_SIZE = 0x400000;
export const ARENA_BASE = 0x200000;
export const ARENA_SIZE = 0x200000;
/** Scratch area for test structures (below the arena). */
export const SCRATCH = 0x20000;
/** A stack top for signal tests. */
export const STACK_TOP = 0x1f0000;

export class FakeClock implements Clock {
  real = 1_700_000_000_123.456;
  mono = 5_000.25;
  cpu = 10;
  slept: number[] = [];
  realtimeMs(): number {
    return this.real;
  }
  monotonicMs(): number {
    return this.mono;
  }
  cpuMs(): number {
    return this.cpu;
  }
  sleep = (ms: number): void => {
    this.slept.push(ms);
    this.real += ms;
    this.mono += ms;
  };
}

export function setup(opts: Partial<LibosOptions> = {}, nativeMemory = false) {
  const mem = new FakeMemory(MEM_BASE, MEM_SIZE);
  const unsupported: string[] = [];
  const clock = new FakeClock();
  const k = new Libos({
    memory: { base: ARENA_BASE, size: ARENA_SIZE },
    onUnsupported: (name) => unsupported.push(name),
    identity: { pid: 100, ppid: 99, uid: 1000, gid: 1000, groups: [1000, 27] },
    clock,
    sleep: clock.sleep,
    ...opts,
  });
  const h = new Harness(k, mem, nativeMemory);
  h.task.regs.rsp = BigInt(STACK_TOP);
  return { k, h, mem, unsupported, clock };
}
