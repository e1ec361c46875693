/** Clocks and sleeping: clock_gettime, clock_getres, gettimeofday, time, nanosleep, clock_nanosleep. */
import { type ProgramMemory, Resume, type TaskControl } from "@kindling/syscall-tap";
import {
  CLOCK_BOOTTIME,
  CLOCK_BOOTTIME_ALARM,
  CLOCK_MONOTONIC,
  CLOCK_MONOTONIC_COARSE,
  CLOCK_MONOTONIC_RAW,
  CLOCK_PROCESS_CPUTIME_ID,
  CLOCK_REALTIME,
  CLOCK_REALTIME_ALARM,
  CLOCK_REALTIME_COARSE,
  CLOCK_TAI,
  CLOCK_THREAD_CPUTIME_ID,
  TIMER_ABSTIME,
} from "../abi.js";
import { define, type Handler, type Outcome, type SyscallTable } from "../dispatch.js";
import { EINTR, EINVAL, EOPNOTSUPP, EPERM } from "../errno.js";
import type { Libos } from "../kernel.js";
import { hostTid } from "../signals.js";
import { SYS } from "../sysno.js";

/** TAI - UTC (seconds), since 2017. */
const TAI_OFFSET_MS = 37_000;
/** Resolution of the coarse clocks: one tick at HZ=250. */
const COARSE_RES_NS = 4_000_000;

/** The reading of clock `id` in milliseconds, or NaN for an unknown clock. */
export function clockMs(k: Libos, id: number): number {
  switch (id) {
    case CLOCK_REALTIME:
    case CLOCK_REALTIME_COARSE:
    case CLOCK_REALTIME_ALARM:
      return k.clock.realtimeMs();
    case CLOCK_TAI:
      return k.clock.realtimeMs() + TAI_OFFSET_MS;
    case CLOCK_MONOTONIC:
    case CLOCK_MONOTONIC_RAW:
    case CLOCK_MONOTONIC_COARSE:
    case CLOCK_BOOTTIME:
    case CLOCK_BOOTTIME_ALARM:
      return k.clock.monotonicMs();
    case CLOCK_PROCESS_CPUTIME_ID:
    case CLOCK_THREAD_CPUTIME_ID:
      return Math.max(0, k.clock.cpuMs() - k.cpuStartMs);
    default:
      return Number.NaN;
  }
}

/** Writes a struct timespec (or timeval with `unit` 1000) for `ms` milliseconds. */
function writeTime(mem: ProgramMemory, addr: number, ms: number, perSecond: number): void {
  const sec = Math.floor(ms / 1000);
  let frac = Math.floor((ms - sec * 1000) * (perSecond / 1000));
  if (frac >= perSecond) frac = perSecond - 1;
  mem.writeU64(addr, sec);
  mem.writeU64(addr + 8, frac);
}

/** Reads a struct timespec as milliseconds; NaN when tv_nsec is out of range or tv_sec is negative. */
export function readTimespecMs(mem: ProgramMemory, addr: number): number {
  const sec = BigInt.asIntN(64, mem.readBigU64(addr));
  const nsec = BigInt.asIntN(64, mem.readBigU64(addr + 8));
  if (sec < 0n || nsec < 0n || nsec >= 1_000_000_000n) return Number.NaN;
  return Number(sec) * 1000 + Number(nsec) / 1e6;
}

export function register(table: SyscallTable): void {
  define(table, "clock_gettime", (k, t, ev) => {
    const ms = clockMs(k, ev.argI32(0));
    if (Number.isNaN(ms)) return -EINVAL;
    writeTime(t.memory, ev.arg(1), ms, 1e9);
    return 0;
  });
  define(table, "clock_getres", (_k, t, ev) => {
    const id = ev.argI32(0);
    if (id < 0 || id > CLOCK_TAI || id === 10) return -EINVAL;
    const addr = ev.arg(1);
    if (addr !== 0) {
      const coarse = id === CLOCK_REALTIME_COARSE || id === CLOCK_MONOTONIC_COARSE;
      t.memory.writeU64(addr, 0);
      t.memory.writeU64(addr + 8, coarse ? COARSE_RES_NS : 1);
    }
    return 0;
  });
  define(table, "gettimeofday", (k, t, ev) => {
    const tv = ev.arg(0);
    const tz = ev.arg(1);
    if (tv !== 0) writeTime(t.memory, tv, k.clock.realtimeMs(), 1e6);
    if (tz !== 0) t.memory.writeU64(tz, 0); // tz_minuteswest = tz_dsttime = 0
    return 0;
  });
  define(table, "time", (k, t, ev) => {
    const sec = Math.floor(k.clock.realtimeMs() / 1000);
    const p = ev.arg(0);
    if (p !== 0) t.memory.writeU64(p, sec);
    return sec;
  });
  define(table, "settimeofday", () => -EPERM);
  define(table, "clock_settime", (_k, _t, ev) => (ev.argI32(0) === CLOCK_REALTIME ? -EPERM : -EINVAL));
  define(table, "nanosleep", (k, t, ev, out) => {
    const ms = readTimespecMs(t.memory, ev.arg(0));
    if (Number.isNaN(ms)) return -EINVAL;
    return sleepFor(k, t, out, ms, ev.arg(1));
  });
  define(table, "clock_nanosleep", (k, t, ev, out) => {
    const id = ev.argI32(0);
    const flags = ev.argI32(1);
    if (id === CLOCK_THREAD_CPUTIME_ID) return -EINVAL;
    const now = clockMs(k, id);
    if (Number.isNaN(now)) return -EINVAL;
    if (id === CLOCK_MONOTONIC_RAW || id === CLOCK_REALTIME_COARSE || id === CLOCK_MONOTONIC_COARSE) return -EOPNOTSUPP;
    const req = readTimespecMs(t.memory, ev.arg(2));
    if (Number.isNaN(req)) return -EINVAL;
    const absolute = (flags & TIMER_ABSTIME) !== 0;
    return sleepFor(k, t, out, absolute ? req - now : req, absolute ? 0 : ev.arg(3));
  });

  // ---- interval timers ----
  define(table, "alarm", (k, _t, ev) => {
    const old = k.realTimerAt === Number.POSITIVE_INFINITY ? 0 : k.realTimerAt - k.clock.monotonicMs();
    const sec = ev.argI32(0) >>> 0;
    k.realTimerInterval = 0;
    k.realTimerAt = sec === 0 ? Number.POSITIVE_INFINITY : k.clock.monotonicMs() + sec * 1000;
    if (old <= 0) return 0;
    // alarm_setitimer: rounds to the nearest second, but never reports 0 for a pending alarm.
    return Math.max(1, Math.round(old / 1000));
  });
  define(table, "getitimer", (k, t, ev) => {
    const which = ev.argI32(0);
    if (which < ITIMER_REAL || which > ITIMER_PROF) return -EINVAL;
    writeItimer(k, t.memory, ev.arg(1), which);
    return 0;
  });
  define(table, "setitimer", (k, t, ev) => {
    const which = ev.argI32(0);
    if (which < ITIMER_REAL || which > ITIMER_PROF) return -EINVAL;
    const newp = ev.arg(1);
    let value = 0;
    let interval = 0;
    if (newp !== 0) {
      interval = readTimevalMs(t.memory, newp);
      value = readTimevalMs(t.memory, newp + 16);
      if (Number.isNaN(interval) || Number.isNaN(value)) return -EINVAL;
    }
    if (ev.arg(2) !== 0) writeItimer(k, t.memory, ev.arg(2), which);
    if (which === ITIMER_REAL) {
      k.realTimerInterval = interval;
      k.realTimerAt = value === 0 ? Number.POSITIVE_INFINITY : k.clock.monotonicMs() + value;
    } else {
      k.cpuTimers[which - 1] = [value, interval];
    }
    return 0;
  });
  for (const name of HOST_NATIVE_ON_SECCOMP) table[SYS[name]] = hostNative(table[SYS[name]], MIRRORED.has(name));
}

/**
 * Where the host kernel owns the program's signals (seccomp), sleeping and the
 * interval timers run natively: a timer's signal must interrupt the program's
 * own waits (pause, sigsuspend run natively too), a sleep interrupted by a
 * signal reports Linux's EINTR and remaining time, and nothing here touches
 * libos state. Elsewhere (kvm) the libos serves them.
 */
const HOST_NATIVE_ON_SECCOMP = ["nanosleep", "clock_nanosleep", "alarm", "getitimer", "setitimer"] as const;
/** Of those, the calls the libos also follows (a mirror of ITIMER_REAL, so its waits know a SIGALRM will come). */
const MIRRORED = new Set<string>(["alarm", "setitimer"]);

function hostNative(h: Handler, mirror: boolean): Handler {
  return (k, t, ev, out) => {
    if (hostTid(t) >= 0) {
      if (mirror) h(k, t, ev, out);
      out.resume = Resume.Continue;
      return 0;
    }
    return h(k, t, ev, out);
  };
}

const ITIMER_REAL = 0;
const ITIMER_PROF = 2;

/** Reads a struct timeval as milliseconds; NaN when tv_usec is out of range or tv_sec is negative. */
function readTimevalMs(mem: ProgramMemory, addr: number): number {
  const sec = BigInt.asIntN(64, mem.readBigU64(addr));
  const usec = BigInt.asIntN(64, mem.readBigU64(addr + 8));
  if (sec < 0n || usec < 0n || usec >= 1_000_000n) return Number.NaN;
  return Number(sec) * 1000 + Number(usec) / 1000;
}

/** Writes a struct itimerval: it_interval then it_value. */
function writeItimer(k: Libos, mem: ProgramMemory, addr: number, which: number): void {
  let value: number;
  let interval: number;
  if (which === ITIMER_REAL) {
    value = k.realTimerAt === Number.POSITIVE_INFINITY ? 0 : Math.max(0.001, k.realTimerAt - k.clock.monotonicMs());
    interval = k.realTimerInterval;
  } else {
    [value, interval] = k.cpuTimers[which - 1];
  }
  writeTime(mem, addr, interval, 1e6);
  writeTime(mem, addr + 16, value, 1e6);
}

/**
 * Sleeps `ms` (may be <= 0); a signal that interrupts it gives -EINTR and, when
 * `remAddr` is set, the time left written there as a timespec.
 */
function sleepFor(k: Libos, t: TaskControl, out: Outcome, ms: number, remAddr: number): number {
  if (ms <= 0) return 0;
  const sched = k.sched;
  if (sched !== undefined && sched.others > 0) {
    // Other threads run while this one sleeps.
    return sched.block(k, t, out, { addr: -1, bitset: 0, wakeAt: k.clock.monotonicMs() + ms, timeoutResult: 0 });
  }
  const start = k.clock.monotonicMs();
  const r = k.block(t, ms);
  if (typeof r === "string") return k.stuck(out, r, "a sleep");
  if (!r) return 0;
  if (remAddr !== 0) writeTime(t.memory, remAddr, Math.max(0, ms - (k.clock.monotonicMs() - start)), 1e9);
  return -EINTR;
}
