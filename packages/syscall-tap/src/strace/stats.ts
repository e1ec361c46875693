import { Resume, type SyscallEvent, type SyscallServer, type TaskControl } from "../types.js";
import { syscallName } from "./names.js";

export interface SyscallStat {
  nr: number;
  name: string;
  calls: number;
  errors: number;
  /** Cumulative time in seconds. */
  seconds: number;
}

/**
 * Counts and cumulative time per system call, printed like `strace -c`. The
 * time is what the server spent serving the call; a call the server lets run
 * natively (Resume.Continue) is counted but its kernel time is not seen.
 */
export class SyscallStats {
  readonly #calls = new Map<number, SyscallStat>();

  /** Records one call of `nr` that took `seconds`; `failed` when it returned -errno. */
  record(nr: number, seconds: number, failed: boolean): void {
    let s = this.#calls.get(nr);
    if (s === undefined) {
      s = { nr, name: syscallName(nr), calls: 0, errors: 0, seconds: 0 };
      this.#calls.set(nr, s);
    }
    s.calls++;
    if (failed) s.errors++;
    if (Number.isFinite(seconds) && seconds > 0) s.seconds += seconds;
  }

  /** The rows, most time first (then most calls, then name). */
  entries(): SyscallStat[] {
    return [...this.#calls.values()]
      .map((s) => ({ ...s }))
      .sort((a, b) => b.seconds - a.seconds || b.calls - a.calls || a.name.localeCompare(b.name));
  }

  get totalCalls(): number {
    let n = 0;
    for (const s of this.#calls.values()) n += s.calls;
    return n;
  }

  /** A table in the layout of `strace -c`. */
  table(): string {
    const rows = this.entries();
    const total = rows.reduce((t, r) => t + r.seconds, 0);
    const calls = rows.reduce((t, r) => t + r.calls, 0);
    const errors = rows.reduce((t, r) => t + r.errors, 0);
    const sep = "------ ----------- ----------- --------- --------- ----------------";
    const line = (pct: number, secs: number, n: number, errs: number, name: string) =>
      `${pct.toFixed(2).padStart(6)} ${secs.toFixed(6).padStart(11)} ${String(n ? Math.round((secs * 1e6) / n) : 0).padStart(11)} ${String(n).padStart(9)} ${(errs ? String(errs) : "").padStart(9)} ${name}`;
    const out = ["% time     seconds  usecs/call     calls    errors syscall", sep];
    for (const r of rows)
      out.push(line(total > 0 ? (100 * r.seconds) / total : 0, r.seconds, r.calls, r.errors, r.name));
    out.push(sep);
    out.push(line(100, total, calls, errors, "total"));
    return `${out.join("\n")}\n`;
  }

  /** A server that delegates to `server` and records every call here. */
  wrap(server: SyscallServer): SyscallServer {
    return new StatsServer(server, this);
  }
}

class StatsServer implements SyscallServer {
  constructor(
    readonly inner: SyscallServer,
    readonly stats: SyscallStats,
  ) {}

  onSyscall(task: TaskControl, ev: SyscallEvent, outcome: { resume: Resume }): number {
    const nr = ev.nr;
    const t0 = performance.now();
    const r = this.inner.onSyscall(task, ev, outcome);
    const dt = (performance.now() - t0) / 1000;
    this.stats.record(nr, dt, outcome.resume === Resume.Return && r < 0 && r >= -4095);
    return r;
  }

  onFault(task: TaskControl, ev: Parameters<SyscallServer["onFault"]>[1], outcome: { resume: Resume }): void {
    this.inner.onFault(task, ev, outcome);
  }
}
