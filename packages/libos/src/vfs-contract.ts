/**
 * The contract between the libos core (kernel.ts, memory, process, signals)
 * and the file side (VFS, fd table, files syscalls), which is implemented in
 * `src/fs/**` and `src/syscalls/files*.ts`.
 *
 * The core needs only what is declared here. The file side may add members to
 * these interfaces with module augmentation from its own files:
 *
 *   declare module "../vfs-contract.js" { interface Vfs { mounts: MountTable } }
 *
 * Conventions (the whole libos): a method that can fail for the program returns
 * a number, `>= 0` on success and `-errno` (Linux x86-64 values, src/errno.ts)
 * on failure; it never throws for bad program input. Program memory is touched
 * only through `TaskControl.memory`, which throws `MemoryFault`; the dispatcher
 * turns an uncaught MemoryFault into -EFAULT.
 *
 * Blocking (poll, select, pipes with no other task): wait with
 * `k.block(t, ms)` (Infinity: no timeout), not `k.sleep`: it returns true when
 * a signal interrupts the wait (answer -EINTR), false when the time ran out,
 * and "deadlock" or "timeout" when the program must end (answer
 * `return k.stuck(out, r, "poll")`). It honours ITIMER_REAL and the deadline.
 */
import type { ByteBudget } from "./budget.js";
import type { Libos } from "./kernel.js";

/** One end of the program's standard streams, as given to `new Libos({ stdio })`. */
export type StdioEndpoint =
  /** A host file descriptor (read/written synchronously with fs.readSync/fs.writeSync). */
  | number
  /** A Node.js stream (writes are queued; reads are the file side's choice). */
  | NodeJS.ReadableStream
  | NodeJS.WritableStream
  /** /dev/null semantics. */
  | "null"
  /** A synchronous sink/source: collects output in tests, feeds input. */
  | StdioHooks;

export interface StdioHooks {
  /** Called with the bytes written; returns bytes accepted (>= 0) or -errno. The array is only valid during the call. */
  write?(data: Uint8Array): number;
  /** Fills `buf`; returns the count (0 = EOF) or -errno. */
  read?(buf: Uint8Array): number;
  /** True for a terminal (isatty, TCGETS). */
  readonly isTTY?: boolean;
}

/** An open file description (shared by the fds that dup() makes). */
export interface FileDescription {
  /** The open flags: O_ACCMODE bits plus O_APPEND, O_NONBLOCK, ... (fcntl F_GETFL). */
  readonly flags: number;
  /**
   * Reads up to `buf.length` bytes at `offset` without moving the file offset.
   * Returns the count (0 at EOF) or -errno: -ESPIPE for pipes, sockets and ttys.
   * Used by mmap for file-backed private mappings.
   */
  pread(buf: Uint8Array, offset: number): number;
  /**
   * How mmap treats this file: "file" (contents copied in by pread), "zero"
   * (/dev/zero: anonymous memory), or undefined (mmap fails with ENODEV).
   */
  readonly mmapKind?: "file" | "zero";
  /** The path it was opened by (the name /proc/self/maps shows for a file mapping). */
  readonly path?: string;
}

/** The process's file descriptor table. */
export interface FdTable {
  /** The description behind `fd`, or undefined when `fd` is not open. */
  get(fd: number): FileDescription | undefined;
  /** Installs `desc` at the lowest free fd >= minFd; returns it or -EMFILE. */
  alloc(desc: FileDescription, minFd?: number, cloexec?: boolean): number;
  /** Closes `fd`: 0 or -EBADF. */
  close(fd: number): number;
  /** Closes every fd (at exit). */
  closeAll(): void;
}

/** The file system side as the kernel object holds it (`Libos.fs`). */
export interface Vfs {
  readonly fds: FdTable;
  /** The sandbox's byte budget, when the file side keeps one (the Libos then shares it). */
  readonly budget?: ByteBudget;
  /**
   * Called once by the Libos constructor: the file side may read
   * `k.options.stdio`, `k.options.exe`, `k.rlimitCur(RLIMIT_NOFILE)`, `k.umask`,
   * `k.mm` (for /proc/self/maps), and set up fds 0, 1 and 2.
   */
  attach?(k: Libos): void;
}
