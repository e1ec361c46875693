/**
 * One byte budget per sandbox: every host buffer the libos holds on a
 * program's behalf (tmpfs file data, names, symlink targets, inodes, pipe
 * buffers, thread contexts) is charged here first, so a sandbox cannot make
 * the host process allocate more than its limit, whatever it asks for.
 * A caller that is refused answers as Linux does at its own limit (ENOSPC for
 * file systems, ENOMEM or EPERM for pipes, EAGAIN for clone).
 */
import { readFileSync } from "node:fs";
import { LibosError } from "./errors.js";
import type { Libos } from "./kernel.js";

export class ByteBudget {
  readonly limit: number;
  #used = 0;
  #peak = 0;

  /** `limit` in bytes (Infinity: unmetered, still counted). */
  constructor(limit: number) {
    if (!(limit >= 0) || (!Number.isSafeInteger(limit) && limit !== Number.POSITIVE_INFINITY)) {
      throw new LibosError("EINVAL", `ByteBudget: the limit must be a non-negative integer (got ${limit})`);
    }
    this.limit = limit;
  }

  /** Bytes charged now. */
  get used(): number {
    return this.#used;
  }
  /** Bytes that may still be charged. */
  get free(): number {
    return Math.max(0, this.limit - this.#used);
  }
  /** The most ever charged at once. */
  get peak(): number {
    return this.#peak;
  }

  /** Takes `n` bytes: true when they fit (and are now charged), false (nothing charged) when not. */
  charge(n: number): boolean {
    if (!(n >= 0) || !Number.isSafeInteger(n)) return n === 0;
    if (n > this.limit - this.#used) return false;
    this.#used += n;
    if (this.#used > this.#peak) this.#peak = this.#used;
    return true;
  }

  /** Returns `n` bytes taken before (never below zero: an over-release is clamped). */
  release(n: number): void {
    if (!(n > 0) || !Number.isFinite(n)) return;
    this.#used = Math.max(0, this.#used - n);
  }

  /** Moves a charge from `from` to `to` bytes (a buffer that grows or shrinks); false (unchanged) when it does not fit. */
  resize(from: number, to: number): boolean {
    if (to > from) return this.charge(to - from);
    this.release(from - to);
    return true;
  }
}

/** The budget of a libos used without one (unit tests, embedders that did not ask): 1 GiB. */
export const DEFAULT_BUDGET_BYTES = 1 << 30;

/** The memory a sandbox reports to its program (sysinfo, /proc/meminfo), in bytes. */
export interface SandboxMemory {
  /** Its limit (MemTotal, totalram). */
  total: number;
  /** In use: what the program maps (its resident set on seccomp) and what the budget holds. */
  used: number;
  /** Held by the libos for it (tmpfs, pipes, threads): Shmem, sharedram. */
  shared: number;
}

/**
 * The sandbox's memory figures: its budget's limit, never the host's RAM.
 * `k`: the process, for what it maps (kvm: its mappings; seccomp, where the
 * host kernel manages its memory: its resident set).
 */
export function sandboxMemory(budget: ByteBudget, k?: Libos): SandboxMemory {
  const total = Number.isFinite(budget.limit) ? budget.limit : k?.mm.limit || DEFAULT_BUDGET_BYTES;
  let program = 0;
  if (k) {
    const maps = k.mm.mappings();
    for (const m of maps) program += m.end - m.start;
    if (maps.length === 0 && k.hostPid > 0) program = hostResident(k.hostPid);
  }
  const shared = Math.min(total, budget.used);
  return { total, used: Math.min(total, program + budget.used), shared };
}

/** The resident bytes of host process `pid` (the sandbox's own program on seccomp), 0 when unknown. */
function hostResident(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/statm`, "latin1").split(" ");
    const pages = Number(f[1]);
    return Number.isFinite(pages) ? pages * 4096 : 0;
  } catch {
    return 0;
  }
}
