/**
 * futex: WAIT/WAKE and friends for one task. With a single task nobody else
 * can wake a waiter: a wait whose value matches sleeps until its timeout
 * (ETIMEDOUT) or, without one, would block forever: the process is ended with
 * SIGKILL and `killReason` says why (Linux would hang until killed).
 *
 * Where the program is a host process (seccomp), the ops of NATIVE_FUTEX_OPS
 * run in its own kernel (the filter lets them through; a notified one is
 * answered Continue: the op is a register). The PI ops are answered ENOSYS on
 * every platform, as by a kernel without CONFIG_FUTEX_PI: natively they would
 * look the owner tid up in the host's pid namespace, and their errors would
 * tell the program which host tasks exist.
 */

import { NATIVE_FUTEX_OPS, Resume } from "@kindling/syscall-tap";
import {
  CLOCK_MONOTONIC,
  CLOCK_REALTIME,
  FUTEX_CLOCK_REALTIME,
  FUTEX_CMD_MASK,
  FUTEX_CMP_REQUEUE,
  FUTEX_REQUEUE,
  FUTEX_WAIT,
  FUTEX_WAIT_BITSET,
  FUTEX_WAKE,
  FUTEX_WAKE_BITSET,
  FUTEX_WAKE_OP,
} from "../abi.js";
import { define, type SyscallTable } from "../dispatch.js";
import { EAGAIN, EINTR, EINVAL, ENOSYS, ETIMEDOUT } from "../errno.js";
import { clockMs, readTimespecMs } from "./time.js";

/** Applies a FUTEX_WAKE_OP operation to `old`; returns the new value, or NaN for a bad op. */
export function wakeOp(old: number, encoded: number): { value: number; cond: boolean } | null {
  const op = (encoded >>> 28) & 7;
  const shift = (encoded >>> 28) & 8;
  const cmp = (encoded >>> 24) & 15;
  let oparg = (encoded << 8) >> 20; // sign-extended 12 bits
  const cmparg = (encoded << 20) >> 20;
  if (shift) {
    if (oparg < 0 || oparg > 31) oparg &= 31; // Linux warns and masks
    oparg = 1 << oparg;
  }
  let value: number;
  switch (op) {
    case 0:
      value = oparg;
      break; // SET
    case 1:
      value = old + oparg;
      break; // ADD
    case 2:
      value = old | oparg;
      break; // OR
    case 3:
      value = old & ~oparg;
      break; // ANDN
    case 4:
      value = old ^ oparg;
      break; // XOR
    default:
      return null;
  }
  const o = old | 0;
  let cond: boolean;
  switch (cmp) {
    case 0:
      cond = o === cmparg;
      break;
    case 1:
      cond = o !== cmparg;
      break;
    case 2:
      cond = o < cmparg;
      break;
    case 3:
      cond = o <= cmparg;
      break;
    case 4:
      cond = o > cmparg;
      break;
    case 5:
      cond = o >= cmparg;
      break;
    default:
      return null;
  }
  return { value: value >>> 0, cond };
}

export function register(table: SyscallTable): void {
  define(table, "futex", (k, t, ev, out) => {
    const uaddr = ev.arg(0);
    const opFull = ev.argI32(1);
    const val = ev.argI32(2) >>> 0;
    const cmd = opFull & FUTEX_CMD_MASK;
    if (t.nativeMemory) {
      if (!NATIVE_FUTEX_OPS.includes(cmd)) return -ENOSYS;
      out.resume = Resume.Continue;
      return 0;
    }
    const realtime = (opFull & FUTEX_CLOCK_REALTIME) !== 0;
    if (realtime && cmd !== FUTEX_WAIT && cmd !== FUTEX_WAIT_BITSET) return -ENOSYS;
    if ((ev.argI32(0) & 3) !== 0) return -EINVAL; // exact even above 2^53
    const mem = t.memory;
    switch (cmd) {
      case FUTEX_WAIT:
      case FUTEX_WAIT_BITSET: {
        if (cmd === FUTEX_WAIT_BITSET && ev.argI32(5) >>> 0 === 0) return -EINVAL;
        const timeout = ev.arg(3);
        let ms = Number.POSITIVE_INFINITY;
        if (timeout !== 0) {
          const req = readTimespecMs(mem, timeout);
          if (Number.isNaN(req)) return -EINVAL;
          // FUTEX_WAIT: relative; FUTEX_WAIT_BITSET: absolute on CLOCK_MONOTONIC (or REALTIME).
          ms = cmd === FUTEX_WAIT ? req : req - clockMs(k, realtime ? CLOCK_REALTIME : CLOCK_MONOTONIC);
        }
        if (mem.readU32(uaddr) !== val) return -EAGAIN;
        const sched = k.sched;
        if (sched !== undefined && sched.others > 0) {
          if (ms <= 0) return -ETIMEDOUT;
          const bitset = cmd === FUTEX_WAIT_BITSET ? ev.argI32(5) >>> 0 : 0xffff_ffff;
          const wakeAt = k.clock.monotonicMs() + Math.max(0, ms);
          return sched.block(k, t, out, { addr: uaddr, bitset, wakeAt, timeoutResult: -ETIMEDOUT });
        }
        // No other task can wake it: only its timeout or a signal (a timer) ends the wait.
        const r = ms > 0 ? k.block(t, ms) : false;
        if (typeof r === "string") return k.stuck(out, r, "a futex wait (no other task can wake it)");
        return r ? -EINTR : -ETIMEDOUT;
      }
      case FUTEX_WAKE:
        mem.readU32(uaddr);
        return k.sched?.wake(uaddr, ev.argI32(2) >>> 0) ?? 0;
      case FUTEX_WAKE_BITSET: {
        const bitset = ev.argI32(5) >>> 0;
        if (bitset === 0) return -EINVAL;
        mem.readU32(uaddr);
        return k.sched?.wake(uaddr, ev.argI32(2) >>> 0, bitset) ?? 0;
      }
      case FUTEX_REQUEUE:
      case FUTEX_CMP_REQUEUE: {
        const nrWake = ev.argI32(2);
        const nrRequeue = ev.argI32(3);
        if (nrWake < 0 || nrRequeue < 0) return -EINVAL;
        if ((ev.argI32(4) & 3) !== 0) return -EINVAL;
        if (cmd === FUTEX_CMP_REQUEUE && mem.readU32(uaddr) !== ev.argI32(5) >>> 0) return -EAGAIN;
        const sched = k.sched;
        if (sched === undefined) return 0;
        const woken = sched.wake(uaddr, nrWake);
        const moved = sched.requeue(uaddr, ev.arg(4), nrRequeue);
        return cmd === FUTEX_CMP_REQUEUE ? woken + moved : woken;
      }
      case FUTEX_WAKE_OP: {
        const uaddr2 = ev.arg(4);
        if ((ev.argI32(4) & 3) !== 0) return -EINVAL;
        const old = mem.readU32(uaddr2);
        const r = wakeOp(old, ev.argI32(5) >>> 0);
        if (r === null) return -ENOSYS;
        mem.writeU32(uaddr2, r.value);
        const sched = k.sched;
        if (sched === undefined) return 0;
        let woken = sched.wake(uaddr, ev.argI32(2) >>> 0);
        if (r.cond) woken += sched.wake(uaddr2, ev.argI32(3) >>> 0);
        return woken;
      }
      default:
        return -ENOSYS;
    }
  });
}
