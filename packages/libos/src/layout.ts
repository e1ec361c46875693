/** Helpers for embedders that load a program themselves and then build a Libos. */
import { PAGE_SIZE } from "./abi.js";
import type { LibosOptions } from "./kernel.js";
import { pageUp } from "./mm.js";

export interface ProgramLayout {
  /** Lowest address of the loaded image (page aligned). */
  loadStart: number;
  /** Where the heap starts: the end of the image, page aligned. */
  brkStart: number;
  /** One past the highest address of the program's memory. */
  memoryEnd: number;
  /** Bytes at the top of memory kept for the stack (default 8 MiB). */
  stackSize?: number;
  /**
   * Bytes left unused between the stack and the mmap area (default 1 MiB), so
   * that a stack overflow runs into memory nothing else uses. A platform that
   * leaves these pages out of its page tables turns an overflow into SIGSEGV.
   */
  guardSize?: number;
  /** The cap on mapped bytes (default: everything from loadStart to memoryEnd). */
  limit?: number;
  /** The program's path, shown in /proc/self/maps. */
  exe?: string;
}

/**
 * The `memory` option for a program loaded at [loadStart, brkStart) with its
 * stack at the top of memory: brk grows up from the image, mmap hands out the
 * rest top-down below the stack, and the image and the stack are known mappings
 * (static glibc mprotects its RELRO segment at startup).
 */
export function programMemory(layout: ProgramLayout): LibosOptions["memory"] {
  const stack = pageUp(layout.stackSize ?? 8 << 20);
  const brk = pageUp(layout.brkStart);
  const top = Math.floor(layout.memoryEnd / PAGE_SIZE) * PAGE_SIZE;
  const stackLow = top - stack;
  const guard = pageUp(layout.guardSize ?? 1 << 20);
  const start = Math.floor(layout.loadStart / PAGE_SIZE) * PAGE_SIZE;
  return {
    base: brk,
    size: Math.max(0, stackLow - guard - brk),
    limit: layout.limit ?? top - start,
    regions: [
      { start, length: brk - start, kind: "image", prot: 7, name: layout.exe ?? "" },
      { start: stackLow, length: stack, kind: "stack", prot: 3, name: "[stack]" },
    ],
  };
}
