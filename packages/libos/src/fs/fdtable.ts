// The per-process file descriptor table (fs/file.c): lowest-free allocation,
// FD_CLOEXEC per fd, RLIMIT_NOFILE, and descriptions shared between dups.

import type { ByteBudget } from "../budget.js";
import { EBADF, EINVAL, EMFILE, ENOMEM } from "../errno.js";
import type { FdTable as FdTableContract } from "../vfs-contract.js";
import type { FileDescription } from "./types.js";

interface Entry {
  file: FileDescription;
  cloexec: boolean;
}

/** The hard ceiling of fds (fs.nr_open's default). */
export const NR_OPEN = 1 << 20;
/**
 * What the host holds per open fd (its entry, and a description of its own
 * unless it is a dup), charged to the budget: a root program may raise
 * RLIMIT_NOFILE to NR_OPEN, a million fds.
 */
export const FD_COST = 256;

export class FdTable implements FdTableContract {
  #entries: (Entry | undefined)[] = [];
  #lowestFree = 0;
  /** The current RLIMIT_NOFILE soft limit. */
  limit: () => number;

  /** `budget`: charged FD_COST per open fd (ENOMEM when it is spent). */
  constructor(
    limit: () => number = () => 1024,
    readonly budget: ByteBudget | null = null,
  ) {
    this.limit = limit;
  }

  get(fd: number): FileDescription | undefined {
    return this.#entries[fd]?.file;
  }

  /** The number of open fds. */
  get size(): number {
    let n = 0;
    for (const e of this.#entries) if (e) n++;
    return n;
  }

  /** Every open fd in ascending order. */
  fds(): number[] {
    const out: number[] = [];
    this.#entries.forEach((e, i) => {
      if (e) out.push(i);
    });
    return out;
  }

  getCloexec(fd: number): boolean | undefined {
    return this.#entries[fd]?.cloexec;
  }

  setCloexec(fd: number, on: boolean): number {
    const e = this.#entries[fd];
    if (!e) return -EBADF;
    e.cloexec = on;
    return 0;
  }

  /**
   * Installs `desc` (taking over one reference) at the lowest free fd >= minFd.
   * Returns the fd, -EMFILE at RLIMIT_NOFILE (the reference is then dropped) or
   * -EINVAL when minFd is beyond the limit.
   */
  alloc(desc: FileDescription, minFd = 0, cloexec = false): number {
    const limit = Math.min(this.limit(), NR_OPEN);
    if (minFd < 0 || !Number.isSafeInteger(minFd)) {
      desc.unref();
      return -EINVAL;
    }
    if (minFd >= limit) {
      desc.unref();
      return -EINVAL;
    }
    let fd = Math.max(minFd, Math.max(minFd, this.#lowestFree));
    while (fd < this.#entries.length && this.#entries[fd] !== undefined) fd++;
    if (fd >= limit) {
      desc.unref();
      return -EMFILE;
    }
    if (this.budget && !this.budget.charge(FD_COST)) {
      desc.unref();
      return -ENOMEM;
    }
    this.#entries[fd] = { file: desc, cloexec };
    if (minFd <= this.#lowestFree) this.#lowestFree = fd + 1;
    return fd;
  }

  /** dup2/dup3: puts `desc` (one reference taken over) at exactly `fd`, closing what was there. */
  installAt(fd: number, desc: FileDescription, cloexec: boolean): number {
    if (fd < 0 || fd >= Math.min(this.limit(), NR_OPEN)) {
      desc.unref();
      return -EBADF;
    }
    const old = this.#entries[fd];
    if (!old && this.budget && !this.budget.charge(FD_COST)) {
      desc.unref();
      return -ENOMEM;
    }
    this.#entries[fd] = { file: desc, cloexec };
    old?.file.unref();
    if (fd === this.#lowestFree) this.#advance();
    return fd;
  }

  #advance(): void {
    while (this.#lowestFree < this.#entries.length && this.#entries[this.#lowestFree]) this.#lowestFree++;
  }

  close(fd: number): number {
    const e = this.#entries[fd];
    if (!e) return -EBADF;
    this.#entries[fd] = undefined;
    this.budget?.release(FD_COST);
    if (fd < this.#lowestFree) this.#lowestFree = fd;
    while (this.#entries.length > 0 && this.#entries[this.#entries.length - 1] === undefined) this.#entries.pop();
    e.file.unref();
    return 0;
  }

  closeAll(): void {
    const entries = this.#entries;
    this.#entries = [];
    this.#lowestFree = 0;
    for (const e of entries) {
      if (!e) continue;
      this.budget?.release(FD_COST);
      e.file.unref();
    }
  }

  /** execve: closes every FD_CLOEXEC fd. */
  closeOnExec(): void {
    this.#entries.forEach((e, fd) => {
      if (e?.cloexec) this.close(fd);
    });
  }

  /** fork: a copy sharing every description. */
  clone(): FdTable {
    const t = new FdTable(this.limit, this.budget);
    t.#entries = this.#entries.map((e) => {
      if (!e) return undefined;
      this.budget?.charge(FD_COST); // a copy of a table that fit (a fork is charged as it can be)
      return { file: e.file.ref(), cloexec: e.cloexec };
    });
    t.#lowestFree = this.#lowestFree;
    return t;
  }
}
