import { type FaultEvent, Resume, type SyscallEvent, type SyscallServer, type TaskControl } from "../types.js";
import { fillsBuffer, formatResult, formatSignal, formatSyscall } from "./format.js";
import type { SyscallStats } from "./stats.js";

export interface TracerOptions {
  /** Also record counts and times here. */
  stats?: SyscallStats;
  /** A prefix for every line. */
  prefix?: string;
  /**
   * Prefix each system call with `[pid N] ` (strace -f) when the event
   * carries a `pid` that differs from `mainPid` (the seccomp platform's events do).
   */
  mainPid?: number;
  /** Trace only the calls this accepts (strace -e trace=...); the others are served silently. */
  filter?: (nr: number) => boolean;
  /** Append the time the server spent, as strace -T does: ` <0.000012>`. */
  timing?: boolean;
}

const FAULT_SIGNALS: Record<number, number> = {
  0: 8,
  1: 5,
  3: 5,
  4: 11,
  5: 11,
  6: 4,
  7: 8,
  12: 7,
  13: 11,
  14: 11,
  16: 8,
  17: 7,
  19: 8,
};

/**
 * A SyscallServer that delegates to `server` and writes one strace line per
 * event: `openat(AT_FDCWD, "/etc/passwd", O_RDONLY) = 3`. The arguments are
 * decoded before the call is served (so strings are what the program passed).
 * A call the server lets run natively (Resume.Continue) prints `= ?`: its
 * result is the host kernel's and not seen here.
 */
export class Tracer implements SyscallServer {
  readonly #server: SyscallServer;
  readonly #write: (line: string) => void;
  readonly #stats: SyscallStats | undefined;
  readonly #prefix: string;
  readonly #mainPid: number | undefined;
  readonly #filter: ((nr: number) => boolean) | undefined;
  readonly #timing: boolean;

  constructor(server: SyscallServer, write: (line: string) => void, options: TracerOptions = {}) {
    this.#server = server;
    this.#write = write;
    this.#stats = options.stats;
    this.#prefix = options.prefix ?? "";
    this.#mainPid = options.mainPid;
    this.#filter = options.filter;
    this.#timing = options.timing ?? false;
  }

  onSyscall(task: TaskControl, ev: SyscallEvent, outcome: { resume: Resume }): number {
    const nr = ev.nr;
    const traced = this.#filter === undefined || this.#filter(nr);
    const timed = this.#stats !== undefined || (traced && this.#timing);
    let prefix = this.#prefix;
    let call = "";
    if (traced) {
      if (this.#mainPid !== undefined) {
        const pid = (ev as { pid?: unknown }).pid;
        if (typeof pid === "number" && pid !== this.#mainPid) prefix = `${prefix}[pid ${pid}] `;
      }
      call = formatSyscall(ev, task.memory);
    }
    const t0 = timed ? performance.now() : 0;
    let r: number;
    try {
      r = this.#server.onSyscall(task, ev, outcome);
    } catch (e) {
      if (traced) this.#write(`${prefix}${call} = ? <${e instanceof Error ? e.name : "error"}>`);
      throw e;
    }
    const seconds = timed ? (performance.now() - t0) / 1000 : 0;
    const returned = (outcome.resume as Resume) === Resume.Return;
    this.#stats?.record(nr, seconds, returned && r < 0 && r >= -4095);
    if (!traced) return r;
    const shown = returned && r >= 0 && fillsBuffer(nr) ? formatSyscall(ev, task.memory, r) : call;
    const timing = this.#timing ? ` <${seconds.toFixed(6)}>` : "";
    this.#write(`${prefix}${shown} = ${returned ? formatResult(nr, r) : "?"}${timing}`);
    return r;
  }

  /** Writes strace's last line: `+++ exited with 0 +++` or `+++ killed by SIGKILL +++`. */
  finish(status: { exitCode: number | null; signal: number | null }): void {
    if (status.signal !== null) this.#write(`${this.#prefix}+++ killed by ${formatSignal(status.signal)} +++`);
    else this.#write(`${this.#prefix}+++ exited with ${status.exitCode ?? "?"} +++`);
  }

  onFault(task: TaskControl, ev: FaultEvent, outcome: { resume: Resume }): void {
    const sig = FAULT_SIGNALS[ev.vector];
    const name = sig ? formatSignal(sig) : `vector ${ev.vector}`;
    const addr = ev.vector === 14 ? `, si_addr=0x${ev.address.toString(16)}` : "";
    this.#write(
      `${this.#prefix}--- ${name} {si_signo=${name}${addr}, vector=${ev.vector}, error_code=0x${ev.errorCode.toString(16)}} ---`,
    );
    this.#server.onFault(task, ev, outcome);
  }
}
