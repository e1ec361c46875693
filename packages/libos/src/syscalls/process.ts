/** Identity and process syscalls: exit, ids, uname, TLS, limits, randomness, scheduling, usage. */
import { syscallRaw } from "@kindling/sys-util/unsafe";
import type { ProgramMemory } from "@kindling/syscall-tap";
import {
  ARCH_GET_CPUID,
  ARCH_GET_FS,
  ARCH_GET_GS,
  ARCH_SET_CPUID,
  ARCH_SET_FS,
  ARCH_SET_GS,
  GRND_INSECURE,
  GRND_RANDOM,
  RLIM_NLIMITS,
  RLIMIT_NOFILE,
  RUSAGE_CHILDREN,
  RUSAGE_SELF,
  RUSAGE_THREAD,
  TASK_SIZE,
} from "../abi.js";
import { sandboxMemory } from "../budget.js";
import { define, type SyscallTable } from "../dispatch.js";
import { EACCES, ECHILD, EFAULT, EINVAL, ENODEV, EPERM, ESRCH } from "../errno.js";
import type { Libos } from "../kernel.js";

const NO_ID = 0xffff_ffff;
/** Largest count getrandom serves in one call (MAX_RW_COUNT). */
const MAX_RW_COUNT = 0x7fff_f000;
/** The most getrandom fills at once where program memory is copied (seccomp). */
const RANDOM_CHUNK = 1 << 20;
/** sysctl nr_open: the highest RLIMIT_NOFILE an unprivileged process may set. */
const NR_OPEN = 1024 * 1024;

/** True when `pid` (0 = the caller) names this process. */
function isSelf(k: Libos, pid: number): boolean {
  return pid === 0 || pid === k.pid;
}

function writeCString(mem: ProgramMemory, addr: number, s: string, size: number): void {
  const b = new Uint8Array(size);
  b.set(new TextEncoder().encode(s).subarray(0, size - 1));
  mem.write(addr, b);
}

// ---- credentials ----

type IdSet = "uid" | "gid";

function ids(k: Libos, which: IdSet): [number, number, number] {
  return which === "uid" ? [k.ruid, k.euid, k.suid] : [k.rgid, k.egid, k.sgid];
}

function setIds(k: Libos, which: IdSet, r: number, e: number, s: number): void {
  if (which === "uid") {
    k.ruid = r;
    k.euid = e;
    k.suid = s;
    k.fsuid = e;
  } else {
    k.rgid = r;
    k.egid = e;
    k.sgid = s;
    k.fsgid = e;
  }
}

function setOne(k: Libos, which: IdSet, id: number): number {
  if (id === NO_ID) return -EINVAL;
  const [r, , s] = ids(k, which);
  if (k.privileged) setIds(k, which, id, id, id);
  else if (id === r || id === s) setIds(k, which, r, id, s);
  else return -EPERM;
  return 0;
}

function setRes(k: Libos, which: IdSet, r: number, e: number, s: number): number {
  const cur = ids(k, which);
  const allowed = (v: number) => v === NO_ID || k.privileged || cur.includes(v);
  if (!allowed(r) || !allowed(e) || !allowed(s)) return -EPERM;
  setIds(k, which, r === NO_ID ? cur[0] : r, e === NO_ID ? cur[1] : e, s === NO_ID ? cur[2] : s);
  return 0;
}

function setRe(k: Libos, which: IdSet, r: number, e: number): number {
  const [cr, ce, cs] = ids(k, which);
  if (r !== NO_ID && !k.privileged && r !== cr && r !== ce) return -EPERM;
  if (e !== NO_ID && !k.privileged && e !== cr && e !== ce && e !== cs) return -EPERM;
  const nr = r === NO_ID ? cr : r;
  const ne = e === NO_ID ? ce : e;
  const ns = r !== NO_ID || (e !== NO_ID && e !== cr) ? ne : cs;
  setIds(k, which, nr, ne, ns);
  return 0;
}

function setFs(k: Libos, which: IdSet, id: number): number {
  const old = which === "uid" ? k.fsuid : k.fsgid;
  const [r, e, s] = ids(k, which);
  if (id !== NO_ID && (k.privileged || id === r || id === e || id === s || id === old)) {
    if (which === "uid") k.fsuid = id;
    else k.fsgid = id;
  }
  return old;
}

// ---- limits ----

function readRlimit(m: ProgramMemory, addr: number): [bigint, bigint] {
  return [m.readBigU64(addr), m.readBigU64(addr + 8)];
}

/** Checks and sets a limit as setrlimit/prlimit64 do; 0 or -errno. */
export function applyRlimit(k: Libos, res: number, soft: bigint, hard: bigint): number {
  if (soft > hard) return -EINVAL;
  // Raising a hard limit needs CAP_SYS_RESOURCE, which a sandboxed program never has (not even as uid 0).
  if (hard > k.rlimitMax(res)) return -EPERM;
  if (res === RLIMIT_NOFILE && hard > BigInt(NR_OPEN)) return -EPERM;
  k.setRlimit(res, soft, hard);
  if (k.hostPid > 0 && HOST_ENFORCED.has(res)) lowerHostLimit(k.hostPid, res, soft, hard);
  return 0;
}

/** The limits the host kernel enforces on a host process (seccomp): memory and CPU time. */
const HOST_ENFORCED = new Set([0 /* RLIMIT_CPU */, 2 /* RLIMIT_DATA */, 3 /* RLIMIT_STACK */, 9 /* RLIMIT_AS */]);
const SYS_prlimit64 = 302;

/**
 * Applies a limit the program set on itself to its host process too, never
 * above the host's hard limit (which the platform set: the sandbox's own cap).
 */
function lowerHostLimit(pid: number, res: number, soft: bigint, hard: bigint): void {
  const cur = new BigUint64Array(2);
  if (syscallRaw(SYS_prlimit64, pid, res, 0, cur) < 0) return;
  const max = hard < cur[1] ? hard : cur[1];
  const next = new BigUint64Array([soft < max ? soft : max, max]);
  syscallRaw(SYS_prlimit64, pid, res, next, 0);
}

export function register(table: SyscallTable): void {
  define(table, "exit", (k, t, ev, out) => {
    const task = k.task(t);
    if (task.clearChildTid !== 0) {
      try {
        t.memory.writeU32(task.clearChildTid, 0);
        k.sched?.wake(task.clearChildTid, 1);
      } catch {
        // An unwritable clear_child_tid is ignored at exit (as Linux).
      }
    }
    // The last thread's exit ends the process; another thread's lets the rest run.
    if (k.sched !== undefined && k.sched.others > 0) return k.sched.exit(k, t, out);
    return k.exitGroup(ev.argI32(0), out);
  });
  define(table, "exit_group", (k, _t, ev, out) => k.exitGroup(ev.argI32(0), out));
  define(table, "getpid", (k) => k.pid);
  define(table, "gettid", (k, t) => k.task(t).tid);
  define(table, "getppid", (k) => k.ppid);
  define(table, "getuid", (k) => k.ruid);
  define(table, "geteuid", (k) => k.euid);
  define(table, "getgid", (k) => k.rgid);
  define(table, "getegid", (k) => k.egid);
  define(table, "getresuid", (k, t, ev) => {
    const m = t.memory;
    m.writeU32(ev.arg(0), k.ruid);
    m.writeU32(ev.arg(1), k.euid);
    m.writeU32(ev.arg(2), k.suid);
    return 0;
  });
  define(table, "getresgid", (k, t, ev) => {
    const m = t.memory;
    m.writeU32(ev.arg(0), k.rgid);
    m.writeU32(ev.arg(1), k.egid);
    m.writeU32(ev.arg(2), k.sgid);
    return 0;
  });
  define(table, "setuid", (k, _t, ev) => setOne(k, "uid", ev.argI32(0) >>> 0));
  define(table, "setgid", (k, _t, ev) => setOne(k, "gid", ev.argI32(0) >>> 0));
  define(table, "setreuid", (k, _t, ev) => setRe(k, "uid", ev.argI32(0) >>> 0, ev.argI32(1) >>> 0));
  define(table, "setregid", (k, _t, ev) => setRe(k, "gid", ev.argI32(0) >>> 0, ev.argI32(1) >>> 0));
  define(table, "setresuid", (k, _t, ev) =>
    setRes(k, "uid", ev.argI32(0) >>> 0, ev.argI32(1) >>> 0, ev.argI32(2) >>> 0),
  );
  define(table, "setresgid", (k, _t, ev) =>
    setRes(k, "gid", ev.argI32(0) >>> 0, ev.argI32(1) >>> 0, ev.argI32(2) >>> 0),
  );
  define(table, "setfsuid", (k, _t, ev) => setFs(k, "uid", ev.argI32(0) >>> 0));
  define(table, "setfsgid", (k, _t, ev) => setFs(k, "gid", ev.argI32(0) >>> 0));
  define(table, "getgroups", (k, t, ev) => {
    const size = ev.argI32(0);
    if (size < 0) return -EINVAL;
    const n = k.groups.length;
    if (size === 0) return n;
    if (size < n) return -EINVAL;
    const list = ev.arg(1);
    for (let i = 0; i < n; i++) t.memory.writeU32(list + i * 4, k.groups[i]);
    return n;
  });
  define(table, "setgroups", (k, t, ev) => {
    const size = ev.argI32(0);
    if (size < 0 || size > 65536) return -EINVAL;
    if (!k.privileged) return -EPERM;
    const list = ev.arg(1);
    const groups: number[] = [];
    for (let i = 0; i < size; i++) groups.push(t.memory.readU32(list + i * 4));
    k.groups = groups;
    return 0;
  });

  // ---- process groups and sessions (one process: its own group and session) ----
  define(table, "getpgid", (k, _t, ev) => (isSelf(k, ev.argI32(0)) ? k.pgid : -ESRCH));
  define(table, "getpgrp", (k) => k.pgid);
  define(table, "getsid", (k, _t, ev) => (isSelf(k, ev.argI32(0)) ? k.sid : -ESRCH));
  define(table, "setpgid", (k, _t, ev) => {
    const pid = ev.argI32(0);
    const pgid = ev.argI32(1);
    if (pgid < 0) return -EINVAL;
    if (!isSelf(k, pid)) return -ESRCH;
    if (k.sid === k.pid) return k.pgid === (pgid === 0 ? k.pid : pgid) ? 0 : -EPERM;
    if (pgid !== 0 && pgid !== k.pid && pgid !== k.pgid) return -EPERM;
    k.pgid = pgid === 0 ? k.pid : pgid;
    return 0;
  });
  define(table, "setsid", (k) => {
    if (k.pgid === k.pid) return -EPERM;
    k.sid = k.pid;
    k.pgid = k.pid;
    return k.pid;
  });

  define(table, "uname", (k, t, ev) => {
    const addr = ev.arg(0);
    const u = k.uts;
    const fields = [u.sysname, u.nodename, u.release, u.version, u.machine, u.domainname];
    const buf = new Uint8Array(65 * 6);
    const enc = new TextEncoder();
    fields.forEach((s, i) => buf.set(enc.encode(s).subarray(0, 64), i * 65));
    t.memory.write(addr, buf);
    return 0;
  });
  define(table, "sethostname", () => -EPERM);
  define(table, "setdomainname", () => -EPERM);

  // ---- threads and TLS ----
  define(table, "set_tid_address", (k, t, ev) => {
    const task = k.task(t);
    task.clearChildTid = ev.arg(0);
    return task.tid;
  });
  define(table, "set_robust_list", (k, t, ev) => {
    if (ev.arg(1) !== 24) return -EINVAL;
    const task = k.task(t);
    task.robustListHead = ev.arg(0);
    task.robustListLen = 24;
    return 0;
  });
  define(table, "get_robust_list", (k, t, ev) => {
    const pid = ev.argI32(0);
    const task = k.task(t);
    if (pid !== 0 && pid !== task.tid) return -ESRCH;
    t.memory.writeU64(ev.arg(1), task.robustListHead);
    t.memory.writeU64(ev.arg(2), task.robustListLen);
    return 0;
  });
  define(table, "arch_prctl", (_k, t, ev) => {
    const code = ev.argI32(0);
    switch (code) {
      case ARCH_SET_FS:
      case ARCH_SET_GS: {
        const v = ev.argU64(1);
        if (v >= BigInt(TASK_SIZE)) return -EPERM;
        if (code === ARCH_SET_FS) t.setFsBase(v);
        else t.setGsBase(v);
        return 0;
      }
      case ARCH_GET_FS:
        t.memory.writeBigU64(ev.arg(1), t.getFsBase());
        return 0;
      case ARCH_GET_GS:
        t.memory.writeBigU64(ev.arg(1), t.getGsBase());
        return 0;
      case ARCH_GET_CPUID:
        return 1; // cpuid is allowed (never faulting)
      case ARCH_SET_CPUID:
        return -ENODEV; // cpuid faulting is not supported
      default:
        return -EINVAL;
    }
  });

  // ---- resource limits ----
  define(table, "prlimit64", (k, t, ev) => {
    const pid = ev.argI32(0);
    const res = ev.arg(1);
    const newp = ev.arg(2);
    const oldp = ev.arg(3);
    if (res >= RLIM_NLIMITS) return -EINVAL;
    if (!isSelf(k, pid)) return -ESRCH;
    let next: [bigint, bigint] | undefined;
    if (newp !== 0) next = readRlimit(t.memory, newp);
    const old: [bigint, bigint] = [k.rlimitCur(res), k.rlimitMax(res)];
    if (next !== undefined) {
      const r = applyRlimit(k, res, next[0], next[1]);
      if (r < 0) return r;
    }
    if (oldp !== 0) {
      t.memory.writeBigU64(oldp, old[0]);
      t.memory.writeBigU64(oldp + 8, old[1]);
    }
    return 0;
  });
  define(table, "getrlimit", (k, t, ev) => {
    const res = ev.arg(0);
    if (res >= RLIM_NLIMITS) return -EINVAL;
    t.memory.writeBigU64(ev.arg(1), k.rlimitCur(res));
    t.memory.writeBigU64(ev.arg(1) + 8, k.rlimitMax(res));
    return 0;
  });
  define(table, "setrlimit", (k, t, ev) => {
    const res = ev.arg(0);
    if (res >= RLIM_NLIMITS) return -EINVAL;
    const [soft, hard] = readRlimit(t.memory, ev.arg(1));
    return applyRlimit(k, res, soft, hard);
  });

  // ---- randomness ----
  define(table, "getrandom", (k, t, ev) => {
    const flags = ev.arg(2);
    if (flags % 8 !== flags) return -EINVAL;
    if ((flags & (GRND_INSECURE | GRND_RANDOM)) === (GRND_INSECURE | GRND_RANDOM)) return -EINVAL;
    const addr = ev.arg(0);
    const len = Math.min(ev.arg(1), MAX_RW_COUNT);
    if (len === 0) return 0;
    const mem = t.memory;
    if (!mem.contains(addr, len)) return -EFAULT;
    if (mem.aliases) {
      k.random(mem.view(addr, len));
    } else {
      // Through a bounded buffer: one call must not make the host allocate up to 2 GiB.
      const b = new Uint8Array(Math.min(len, RANDOM_CHUNK));
      for (let off = 0; off < len; off += b.byteLength) {
        const part = b.subarray(0, Math.min(b.byteLength, len - off));
        k.random(part);
        mem.write(addr + off, part);
      }
    }
    return len;
  });

  // ---- scheduling ----
  define(table, "sched_yield", (k, t, _ev, out) => (k.sched !== undefined ? k.sched.yield(k, t, out, 0) : 0));
  define(table, "sched_getaffinity", (k, t, ev) => {
    const pid = ev.argI32(0);
    const len = ev.arg(1);
    const bytes = Math.ceil(k.cpus / 64) * 8;
    if (len < bytes || len % 8 !== 0) return -EINVAL;
    if (pid !== 0 && pid !== k.task(t).tid && pid !== k.pid) return -ESRCH;
    const mask = new Uint8Array(bytes);
    for (let c = 0; c < k.cpus; c++) mask[c >> 3] |= 1 << (c & 7);
    t.memory.write(ev.arg(2), mask);
    return bytes;
  });
  define(table, "sched_setaffinity", (k, t, ev) => {
    const pid = ev.argI32(0);
    if (pid !== 0 && pid !== k.task(t).tid && pid !== k.pid) return -ESRCH;
    const len = Math.min(ev.arg(1), 128);
    const mask = t.memory.read(ev.arg(2), len);
    for (let c = 0; c < k.cpus && c < len * 8; c++) if (mask[c >> 3] & (1 << (c & 7))) return 0;
    return -EINVAL;
  });
  define(table, "sched_getscheduler", (k, _t, ev) => (isSelf(k, ev.argI32(0)) ? 0 : -ESRCH));
  define(table, "sched_getparam", (k, t, ev) => {
    if (!isSelf(k, ev.argI32(0))) return -ESRCH;
    t.memory.writeU32(ev.arg(1), 0);
    return 0;
  });
  define(table, "sched_get_priority_max", (_k, _t, ev) => {
    const p = ev.argI32(0);
    return p === 1 || p === 2 ? 99 : p === 0 || p === 3 || p === 5 || p === 6 ? 0 : -EINVAL;
  });
  define(table, "sched_get_priority_min", (_k, _t, ev) => {
    const p = ev.argI32(0);
    return p === 1 || p === 2 ? 1 : p === 0 || p === 3 || p === 5 || p === 6 ? 0 : -EINVAL;
  });
  define(table, "getpriority", (k, _t, ev) => {
    const which = ev.argI32(0);
    if (which < 0 || which > 2) return -EINVAL;
    return isSelf(k, ev.argI32(1)) ? 20 : -ESRCH; // 20 - nice
  });
  define(table, "setpriority", (k, _t, ev) => {
    const which = ev.argI32(0);
    if (which < 0 || which > 2) return -EINVAL;
    if (!isSelf(k, ev.argI32(1))) return -ESRCH;
    return ev.argI32(2) < 0 && !k.privileged ? -EACCES : 0;
  });
  define(table, "getcpu", (_k, t, ev) => {
    if (ev.arg(0) !== 0) t.memory.writeU32(ev.arg(0), 0);
    if (ev.arg(1) !== 0) t.memory.writeU32(ev.arg(1), 0);
    return 0;
  });

  define(table, "umask", (k, _t, ev) => {
    const old = k.umask;
    k.umask = ev.arg(0) & 0o777;
    return old;
  });

  // ---- usage ----
  define(table, "getrusage", (k, t, ev) => {
    const who = ev.argI32(0);
    if (who !== RUSAGE_SELF && who !== RUSAGE_CHILDREN && who !== RUSAGE_THREAD) return -EINVAL;
    const b = new BigInt64Array(18);
    if (who !== RUSAGE_CHILDREN) {
      const cpuUs = Math.max(0, Math.floor((k.clock.cpuMs() - k.cpuStartMs) * 1000));
      b[0] = BigInt(Math.floor(cpuUs / 1e6));
      b[1] = BigInt(cpuUs % 1e6);
      b[4] = BigInt(Math.ceil(k.mm.peak / 1024)); // ru_maxrss in KiB
    }
    t.memory.write(ev.arg(1), new Uint8Array(b.buffer));
    return 0;
  });
  define(table, "times", (k, t, ev) => {
    const ticks = (ms: number) => BigInt(Math.max(0, Math.floor(ms / 10)));
    const addr = ev.arg(0);
    if (addr !== 0) {
      const b = new BigInt64Array(4);
      b[0] = ticks(k.clock.cpuMs() - k.cpuStartMs);
      t.memory.write(addr, new Uint8Array(b.buffer));
    }
    return Number(ticks(k.clock.monotonicMs()));
  });
  define(table, "sysinfo", (k, t, ev) => {
    const b = new Uint8Array(112);
    const dv = new DataView(b.buffer);
    // The sandbox's memory (its limit, what it uses), never the host's RAM, on every platform.
    const m = sandboxMemory(k.budget, k);
    dv.setBigInt64(0, BigInt(Math.floor((k.clock.monotonicMs() - k.startMs) / 1000) + 1), true);
    dv.setBigUint64(32, BigInt(m.total), true);
    dv.setBigUint64(40, BigInt(Math.max(0, m.total - m.used)), true);
    dv.setBigUint64(48, BigInt(m.shared), true); // sharedram: tmpfs, pipes
    dv.setUint16(80, 1, true); // procs
    dv.setUint32(104, 1, true); // mem_unit
    t.memory.write(ev.arg(0), b);
    return 0;
  });

  define(table, "prctl", (k, t, ev) => {
    const option = ev.argI32(0);
    switch (option) {
      case 15: {
        // PR_SET_NAME
        const name = t.memory.readCString(ev.arg(1), 16) ?? t.memory.read(ev.arg(1), 15);
        k.comm = new TextDecoder("latin1").decode(name.subarray(0, 15));
        return 0;
      }
      case 16: // PR_GET_NAME
        writeCString(t.memory, ev.arg(1), k.comm, 16);
        return 0;
      case 1: // PR_SET_PDEATHSIG
        if (ev.arg(1) > 64) return -EINVAL;
        k.pdeathsig = ev.arg(1);
        return 0;
      case 2: // PR_GET_PDEATHSIG
        t.memory.writeU32(ev.arg(1), k.pdeathsig);
        return 0;
      case 3: // PR_GET_DUMPABLE
        return k.dumpable;
      case 4: // PR_SET_DUMPABLE
        if (ev.arg(1) > 1) return -EINVAL;
        k.dumpable = ev.arg(1);
        return 0;
      case 38: // PR_SET_NO_NEW_PRIVS
        return ev.arg(1) === 1 && ev.arg(2) === 0 && ev.arg(3) === 0 && ev.arg(4) === 0 ? 0 : -EINVAL;
      case 39: // PR_GET_NO_NEW_PRIVS
        return 1;
      case 21: // PR_GET_SECCOMP
        return 0;
      default:
        return -EINVAL;
    }
  });
  // No child processes exist (fork and clone are not served yet): waiting finds none.
  define(table, "wait4", (_k, _t, ev) => {
    const options = ev.argI32(2);
    // WNOHANG WUNTRACED WCONTINUED __WNOTHREAD __WALL __WCLONE
    if (options & ~(0x1 | 0x2 | 0x8 | 0x20000000 | 0x40000000 | 0x80000000)) return -EINVAL;
    return -ECHILD;
  });
  define(table, "waitid", (_k, _t, ev) => {
    const which = ev.argI32(0);
    const options = ev.argI32(3);
    if (which < 0 || which > 3) return -EINVAL;
    if (options & ~(0x1 | 0x2 | 0x4 | 0x8 | 0x1000000 | 0x20000000 | 0x40000000 | 0x80000000)) return -EINVAL;
    if ((options & (0x2 | 0x4 | 0x8)) === 0) return -EINVAL; // none of WSTOPPED, WEXITED, WCONTINUED
    return -ECHILD;
  });
  define(table, "personality", (k, _t, ev) => {
    const old = k.personality;
    const p = ev.arg(0);
    if (p !== 0xffff_ffff) k.personality = p % 2 ** 32;
    return old;
  });
}
