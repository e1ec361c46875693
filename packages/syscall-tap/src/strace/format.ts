/**
 * strace-style decoding of system calls: names, arguments by type, strings
 * read from the program's memory (truncated and escaped like strace -s 32),
 * flags, and results. Formatting never throws: an unreadable pointer prints
 * as hex.
 */
import type { ProgramMemory, SyscallEvent } from "../types.js";
import {
  ACCESS_AT_FLAGS,
  ACCESS_MODES,
  ARCH_PRCTL,
  AT_FDCWD,
  AT_FLAGS,
  CLOCKS,
  CLONE_FLAGS,
  FCNTL_CMDS,
  FD_FLAGS,
  type FlagTable,
  FUTEX_OPS,
  GRND_FLAGS,
  IOCTL_CMDS,
  MADVICE,
  MAP_FLAGS,
  MAP_TYPES,
  MREMAP_FLAGS,
  O_CREAT,
  O_TMPFILE,
  OPEN_ACCESS,
  OPEN_FLAGS,
  PRCTL_OPTIONS,
  PROT_FLAGS,
  RLIMITS,
  SIGNALS,
  SIGPROCMASK_HOW,
  SOCKET_DOMAINS,
  SOCKET_TYPE_FLAGS,
  SOCKET_TYPES,
  WAIT_FLAGS,
  WHENCE,
} from "./constants.js";
import { ERRNO_TABLE } from "./errno-table.js";
import { syscallName } from "./names.js";

/** strace's default string limit (-s 32). */
export const STRING_LIMIT = 32;
const PATH_MAX = 4096;
const ARGV_LIMIT = 32;

type Kind =
  | "fd"
  | "dirfd"
  | "path"
  | "ptr"
  | "int"
  | "uint"
  | "size"
  | "off"
  | "hex"
  | "oct"
  | "oflags"
  | "oflags-noacc"
  | "atflags"
  | "accessatflags"
  | "prot"
  | "mapflags"
  | "signal"
  | "sighow"
  | "whence"
  | "access"
  | "clock"
  | "archprctl"
  | "grnd"
  | "rlimit"
  | "waitflags"
  | "ioctlcmd"
  | "madv"
  | "mremapflags"
  | "domain"
  | "socktype"
  | "cloneflags"
  | "argv"
  | "envp"
  | "rbuf"
  | "rstr"
  | "wiov2"
  | "riov2"
  | "prctl"
  | `wbuf${number}`;

/** Argument kinds of the system calls decoded in full; the rest print their six arguments in hex. */
const SIGNATURES: Record<string, readonly Kind[]> = {
  read: ["fd", "rbuf", "size"],
  write: ["fd", "wbuf2", "size"],
  open: ["path", "oflags"],
  close: ["fd"],
  stat: ["path", "ptr"],
  fstat: ["fd", "ptr"],
  lstat: ["path", "ptr"],
  poll: ["ptr", "uint", "int"],
  lseek: ["fd", "off", "whence"],
  mmap: ["ptr", "size", "prot", "mapflags", "fd", "hex"],
  mprotect: ["ptr", "size", "prot"],
  munmap: ["ptr", "size"],
  brk: ["ptr"],
  rt_sigaction: ["signal", "ptr", "ptr", "size"],
  rt_sigprocmask: ["sighow", "ptr", "ptr", "size"],
  rt_sigreturn: [],
  ioctl: ["fd", "ioctlcmd", "ptr"],
  pread64: ["fd", "rbuf", "size", "off"],
  pwrite64: ["fd", "wbuf2", "size", "off"],
  readv: ["fd", "riov2", "int"],
  writev: ["fd", "wiov2", "int"],
  preadv: ["fd", "riov2", "int", "off"],
  pwritev: ["fd", "wiov2", "int", "off"],
  access: ["path", "access"],
  pipe: ["ptr"],
  select: ["int", "ptr", "ptr", "ptr", "ptr"],
  sched_yield: [],
  mremap: ["ptr", "size", "size", "mremapflags", "ptr"],
  msync: ["ptr", "size", "hex"],
  madvise: ["ptr", "size", "madv"],
  dup: ["fd"],
  dup2: ["fd", "fd"],
  pause: [],
  nanosleep: ["ptr", "ptr"],
  getpid: [],
  socket: ["domain", "socktype", "int"],
  connect: ["fd", "ptr", "uint"],
  accept: ["fd", "ptr", "ptr"],
  accept4: ["fd", "ptr", "ptr", "oflags-noacc"],
  bind: ["fd", "ptr", "uint"],
  listen: ["fd", "int"],
  shutdown: ["fd", "int"],
  sendto: ["fd", "wbuf2", "size", "hex", "ptr", "uint"],
  recvfrom: ["fd", "rbuf", "size", "hex", "ptr", "ptr"],
  sendmsg: ["fd", "ptr", "hex"],
  recvmsg: ["fd", "ptr", "hex"],
  getsockname: ["fd", "ptr", "ptr"],
  getpeername: ["fd", "ptr", "ptr"],
  socketpair: ["domain", "socktype", "int", "ptr"],
  setsockopt: ["fd", "int", "int", "ptr", "uint"],
  getsockopt: ["fd", "int", "int", "ptr", "ptr"],
  epoll_create1: ["oflags-noacc"],
  epoll_ctl: ["fd", "int", "fd", "ptr"],
  epoll_wait: ["fd", "ptr", "int", "int"],
  epoll_pwait: ["fd", "ptr", "int", "int", "ptr", "size"],
  eventfd2: ["uint", "oflags-noacc"],
  timerfd_create: ["clock", "oflags-noacc"],
  memfd_create: ["path", "hex"],
  fchown: ["fd", "int", "int"],
  chown: ["path", "int", "int"],
  lchown: ["path", "int", "int"],
  fchownat: ["dirfd", "path", "int", "int", "atflags"],
  statfs: ["path", "ptr"],
  fstatfs: ["fd", "ptr"],
  flock: ["fd", "int"],
  fallocate: ["fd", "int", "off", "off"],
  getitimer: ["int", "ptr"],
  setitimer: ["int", "ptr", "ptr"],
  alarm: ["uint"],
  prctl: ["prctl", "hex", "hex", "hex", "hex"],
  sched_setaffinity: ["int", "size", "ptr"],
  getpriority: ["int", "int"],
  setpriority: ["int", "int", "int"],
  setuid: ["int"],
  setgid: ["int"],
  setresuid: ["int", "int", "int"],
  setresgid: ["int", "int", "int"],
  rt_sigsuspend: ["ptr", "size"],
  rt_sigtimedwait: ["ptr", "ptr", "ptr", "size"],
  rt_sigpending: ["ptr", "size"],
  sendfile: ["fd", "fd", "ptr", "size"],
  copy_file_range: ["fd", "ptr", "fd", "ptr", "size", "uint"],
  splice: ["fd", "ptr", "fd", "ptr", "size", "hex"],
  mincore: ["ptr", "size", "ptr"],
  mlock: ["ptr", "size"],
  munlock: ["ptr", "size"],
  membarrier: ["int", "uint", "int"],
  close_range: ["uint", "uint", "uint"],
  pidfd_open: ["int", "uint"],
  openat2: ["dirfd", "path", "ptr", "size"],
  clone3: ["ptr", "size"],
  waitid: ["int", "int", "ptr", "waitflags", "ptr"],
  chroot: ["path"],
  sync: [],
  syncfs: ["fd"],
  times: ["ptr"],
  getcpu: ["ptr", "ptr", "ptr"],
  clone: ["cloneflags", "ptr", "ptr", "ptr", "hex"],
  fork: [],
  vfork: [],
  execve: ["path", "argv", "envp"],
  exit: ["int"],
  wait4: ["int", "ptr", "waitflags", "ptr"],
  kill: ["int", "signal"],
  uname: ["ptr"],
  fsync: ["fd"],
  fdatasync: ["fd"],
  truncate: ["path", "off"],
  ftruncate: ["fd", "off"],
  getdents64: ["fd", "ptr", "size"],
  getcwd: ["rstr", "size"],
  chdir: ["path"],
  fchdir: ["fd"],
  rename: ["path", "path"],
  mkdir: ["path", "oct"],
  rmdir: ["path"],
  creat: ["path", "oct"],
  link: ["path", "path"],
  unlink: ["path"],
  symlink: ["path", "path"],
  readlink: ["path", "rbuf", "size"],
  chmod: ["path", "oct"],
  fchmod: ["fd", "oct"],
  umask: ["oct"],
  gettimeofday: ["ptr", "ptr"],
  getrusage: ["int", "ptr"],
  sysinfo: ["ptr"],
  getuid: [],
  getgid: [],
  geteuid: [],
  getegid: [],
  getppid: [],
  getpgrp: [],
  setsid: [],
  sigaltstack: ["ptr", "ptr"],
  arch_prctl: ["archprctl", "hex"],
  gettid: [],
  time: ["ptr"],
  set_tid_address: ["ptr"],
  clock_gettime: ["clock", "ptr"],
  clock_getres: ["clock", "ptr"],
  clock_nanosleep: ["clock", "hex", "ptr", "ptr"],
  exit_group: ["int"],
  tgkill: ["int", "int", "signal"],
  tkill: ["int", "signal"],
  openat: ["dirfd", "path", "oflags"],
  mkdirat: ["dirfd", "path", "oct"],
  newfstatat: ["dirfd", "path", "ptr", "atflags"],
  unlinkat: ["dirfd", "path", "atflags"],
  renameat: ["dirfd", "path", "dirfd", "path"],
  renameat2: ["dirfd", "path", "dirfd", "path", "hex"],
  linkat: ["dirfd", "path", "dirfd", "path", "atflags"],
  symlinkat: ["path", "dirfd", "path"],
  readlinkat: ["dirfd", "path", "rbuf", "size"],
  fchmodat: ["dirfd", "path", "oct"],
  faccessat: ["dirfd", "path", "access"],
  faccessat2: ["dirfd", "path", "access", "accessatflags"],
  pselect6: ["int", "ptr", "ptr", "ptr", "ptr", "ptr"],
  ppoll: ["ptr", "uint", "ptr", "ptr", "size"],
  set_robust_list: ["ptr", "size"],
  utimensat: ["dirfd", "path", "ptr", "atflags"],
  dup3: ["fd", "fd", "oflags-noacc"],
  pipe2: ["ptr", "oflags-noacc"],
  prlimit64: ["int", "rlimit", "ptr", "ptr"],
  getrandom: ["ptr", "size", "grnd"],
  statx: ["dirfd", "path", "atflags", "hex", "ptr"],
  rseq: ["ptr", "uint", "hex", "hex"],
  sched_getaffinity: ["int", "size", "ptr"],
  getpgid: ["int"],
  getsid: ["int"],
  setpgid: ["int", "int"],
  getgroups: ["int", "ptr"],
  getresuid: ["ptr", "ptr", "ptr"],
  getresgid: ["ptr", "ptr", "ptr"],
  restart_syscall: [],
};

const errnoByNr = new Map<number, readonly [number, string, string]>(ERRNO_TABLE.map((e) => [e[0], e]));

/** The name of an errno value ("ENOENT"), or "E<n>". */
export function errnoSymbol(errno: number): string {
  return errnoByNr.get(errno)?.[1] ?? `E${errno}`;
}

/** The C library's message for an errno value. */
export function errnoMessage(errno: number): string {
  return errnoByNr.get(errno)?.[2] ?? `Unknown error ${errno}`;
}

function hex(v: bigint): string {
  return v === 0n ? "0" : `0x${v.toString(16)}`;
}

function ptr(v: bigint): string {
  return v === 0n ? "NULL" : `0x${v.toString(16)}`;
}

/** Flags as A|B|0x..., or "0". */
export function formatFlags(value: number, table: FlagTable, zero = "0"): string {
  let rest = value >>> 0;
  if (rest === 0) return zero;
  const parts: string[] = [];
  for (const [bit, name] of table) {
    if (bit !== 0 && (rest & bit) >>> 0 === bit) {
      parts.push(name);
      rest = (rest & ~bit) >>> 0;
    }
  }
  if (rest !== 0) parts.push(`0x${rest.toString(16)}`);
  return parts.join("|");
}

/** open(2) flags: the access mode, then the other flags (O_RDONLY|O_CLOEXEC). */
export function formatOpenFlags(flags: number): string {
  const f = flags >>> 0;
  const acc = OPEN_ACCESS[f & 3]!;
  const rest = (f & ~3) >>> 0;
  return rest === 0 ? acc : `${acc}|${formatFlags(rest, OPEN_FLAGS)}`;
}

function formatEnum(value: number, names: Record<number, string>, signed = true): string {
  return names[value] ?? String(signed ? value : value >>> 0);
}

export function formatSignal(sig: number): string {
  if (sig > 0 && sig < SIGNALS.length) return SIGNALS[sig]!;
  if (sig === 34) return "SIGRTMIN";
  if (sig > 34 && sig <= 64) return `SIGRT_${sig - 34}`;
  return String(sig);
}

function formatProt(v: number): string {
  return formatFlags(v, PROT_FLAGS, "PROT_NONE");
}

function formatMapFlags(v: number): string {
  const f = v >>> 0;
  const type = MAP_TYPES[f & 0xf];
  const rest = (f & ~0xf) >>> 0;
  const head = type ?? (f & 0xf ? `0x${(f & 0xf).toString(16)}` : "");
  const tail = rest ? formatFlags(rest, MAP_FLAGS) : "";
  return head && tail ? `${head}|${tail}` : head || tail || "0";
}

function formatSockType(v: number): string {
  const t = formatEnum(v & 0xf, SOCKET_TYPES);
  const rest = (v & ~0xf) >>> 0;
  return rest ? `${t}|${formatFlags(rest, SOCKET_TYPE_FLAGS)}` : t;
}

function formatMode(v: number): string {
  return `0${(v >>> 0).toString(8)}`.replace(/^00+/, "0");
}

/** Quotes bytes like strace: printable ASCII kept, C escapes, octal otherwise; `...` after the quote when truncated. */
export function quoteBytes(bytes: Uint8Array, truncated: boolean): string {
  let s = '"';
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    switch (c) {
      case 0x22:
        s += '\\"';
        break;
      case 0x5c:
        s += "\\\\";
        break;
      case 0x09:
        s += "\\t";
        break;
      case 0x0a:
        s += "\\n";
        break;
      case 0x0b:
        s += "\\v";
        break;
      case 0x0c:
        s += "\\f";
        break;
      case 0x0d:
        s += "\\r";
        break;
      default:
        if (c >= 0x20 && c < 0x7f) {
          s += String.fromCharCode(c);
        } else {
          const next = i + 1 < bytes.length ? bytes[i + 1]! : -1;
          const oct = c.toString(8);
          s += `\\${next >= 0x30 && next <= 0x37 ? oct.padStart(3, "0") : oct}`;
        }
    }
  }
  s += '"';
  return truncated ? `${s}...` : s;
}

function formatPath(mem: ProgramMemory, addr: bigint): string {
  if (addr === 0n) return "NULL";
  if (addr > BigInt(Number.MAX_SAFE_INTEGER)) return ptr(addr);
  try {
    const s = mem.readCString(Number(addr), PATH_MAX);
    if (s === null) return quoteBytes(mem.read(Number(addr), PATH_MAX), true);
    return quoteBytes(s, false);
  } catch {
    return ptr(addr);
  }
}

function formatBuffer(mem: ProgramMemory, addr: bigint, len: bigint, limit: number): string {
  if (addr > BigInt(Number.MAX_SAFE_INTEGER)) return ptr(addr);
  try {
    const n = len < BigInt(limit) ? Number(len) : limit;
    const bytes = mem.read(Number(addr), n);
    return quoteBytes(bytes, len > BigInt(limit));
  } catch {
    return ptr(addr);
  }
}

function formatStringArray(mem: ProgramMemory, addr: bigint, limit: number): string {
  if (addr === 0n) return "NULL";
  if (addr > BigInt(Number.MAX_SAFE_INTEGER)) return ptr(addr);
  try {
    const items: string[] = [];
    for (let i = 0; ; i++) {
      const p = mem.readBigU64(Number(addr) + i * 8);
      if (p === 0n) break;
      if (i >= limit) {
        items.push("...");
        break;
      }
      items.push(formatPathLimited(mem, p));
    }
    return `[${items.join(", ")}]`;
  } catch {
    return ptr(addr);
  }
}

function formatPathLimited(mem: ProgramMemory, addr: bigint): string {
  if (addr > BigInt(Number.MAX_SAFE_INTEGER)) return ptr(addr);
  try {
    const s = mem.readCString(Number(addr), STRING_LIMIT);
    if (s === null) return quoteBytes(mem.read(Number(addr), STRING_LIMIT), true);
    return quoteBytes(s, false);
  } catch {
    return ptr(addr);
  }
}

/** strace's `[{iov_base="...", iov_len=N}, ...]`, at most 32 entries; `filled` limits the bytes shown (readv). */
function formatIovec(mem: ProgramMemory, addr: bigint, count: bigint, filled: number | undefined): string {
  if (addr > BigInt(Number.MAX_SAFE_INTEGER) || count > 1024n) return ptr(addr);
  try {
    const n = Number(count);
    const items: string[] = [];
    let left = filled === undefined ? Number.POSITIVE_INFINITY : filled;
    for (let i = 0; i < n; i++) {
      if (i >= ARGV_LIMIT) {
        items.push("...");
        break;
      }
      const base = mem.readBigU64(Number(addr) + i * 16);
      const len = mem.readBigU64(Number(addr) + i * 16 + 8);
      const shown =
        len < BigInt(Math.min(left, Number.MAX_SAFE_INTEGER)) ? len : BigInt(Math.min(left, Number.MAX_SAFE_INTEGER));
      left -= Number(shown);
      const b = base === 0n ? "NULL" : formatBuffer(mem, base, shown, STRING_LIMIT);
      items.push(`{iov_base=${b}, iov_len=${len}}`);
    }
    return `[${items.join(", ")}]`;
  } catch {
    return ptr(addr);
  }
}

function countVars(mem: ProgramMemory, addr: bigint): string {
  if (addr === 0n) return "NULL";
  if (addr > BigInt(Number.MAX_SAFE_INTEGER)) return ptr(addr);
  try {
    let n = 0;
    while (n < 100_000 && mem.readBigU64(Number(addr) + n * 8) !== 0n) n++;
    return `${ptr(addr)} /* ${n} var${n === 1 ? "" : "s"} */`;
  } catch {
    return ptr(addr);
  }
}

function formatArg(kind: Kind, ev: SyscallEvent, i: number, mem: ProgramMemory, ret: number | undefined): string {
  const u = ev.argU64(i);
  const i32 = ev.argI32(i);
  switch (kind) {
    case "fd":
    case "int":
      return String(i32);
    case "dirfd":
      return i32 === AT_FDCWD ? "AT_FDCWD" : String(i32);
    case "uint":
      return String(i32 >>> 0);
    case "size":
      return u.toString();
    case "off":
      return BigInt.asIntN(64, u).toString();
    case "hex":
      return hex(u);
    case "oct":
      return formatMode(i32);
    case "ptr":
      return ptr(u);
    case "path":
      return formatPath(mem, u);
    case "oflags":
      return formatOpenFlags(i32);
    case "oflags-noacc":
      return formatFlags(i32, OPEN_FLAGS);
    case "atflags":
      return formatFlags(i32, AT_FLAGS);
    case "accessatflags":
      return formatFlags(i32, ACCESS_AT_FLAGS);
    case "prot":
      return formatProt(i32);
    case "mapflags":
      return formatMapFlags(i32);
    case "signal":
      return formatSignal(i32);
    case "sighow":
      return formatEnum(i32, SIGPROCMASK_HOW);
    case "whence":
      return formatEnum(i32, WHENCE);
    case "access":
      return formatFlags(i32, ACCESS_MODES, "F_OK");
    case "clock":
      return formatEnum(i32, CLOCKS);
    case "archprctl":
      return ARCH_PRCTL[i32] ?? hex(u);
    case "grnd":
      return formatFlags(i32, GRND_FLAGS);
    case "rlimit":
      return RLIMITS[i32] ?? String(i32);
    case "waitflags":
      return formatFlags(i32, WAIT_FLAGS);
    case "ioctlcmd":
      return IOCTL_CMDS[i32 >>> 0] ?? hex(u & 0xffffffffn);
    case "madv":
      return formatEnum(i32, MADVICE);
    case "mremapflags":
      return formatFlags(i32, MREMAP_FLAGS);
    case "domain":
      return formatEnum(i32, SOCKET_DOMAINS);
    case "socktype":
      return formatSockType(i32);
    case "cloneflags": {
      const sig = i32 & 0xff;
      const rest = (i32 & ~0xff) >>> 0;
      const parts = [rest ? formatFlags(rest, CLONE_FLAGS) : "", sig ? formatSignal(sig) : ""].filter((x) => x);
      return `flags=${parts.length ? parts.join("|") : "0"}`;
    }
    case "argv":
      return formatStringArray(mem, u, ARGV_LIMIT);
    case "envp":
      return countVars(mem, u);
    case "rbuf":
      // Filled by the call: its first `ret` bytes, once it has returned.
      return ret === undefined || !(ret >= 0) ? ptr(u) : formatBuffer(mem, u, BigInt(Math.trunc(ret)), STRING_LIMIT);
    case "prctl":
      return formatEnum(i32, PRCTL_OPTIONS);
    case "wiov2":
      return formatIovec(mem, u, ev.argU64(2), undefined);
    case "riov2":
      // Filled by the call: shown once it has returned, up to `ret` bytes in all.
      return ret === undefined || !(ret >= 0) ? ptr(u) : formatIovec(mem, u, ev.argU64(2), ret);
    case "rstr":
      return ret === undefined || !(ret >= 0) ? ptr(u) : formatPath(mem, u);
    default: {
      // wbufN: data of the length in argument N.
      const lenArg = Number(kind.slice(4));
      return formatBuffer(mem, u, ev.argU64(lenArg), STRING_LIMIT);
    }
  }
}

function fcntlArgs(ev: SyscallEvent): string[] {
  const cmd = ev.argI32(1);
  const out = [String(ev.argI32(0)), FCNTL_CMDS[cmd] ?? String(cmd)];
  switch (cmd) {
    case 1:
    case 3:
    case 9:
    case 11:
    case 1025:
    case 1032:
    case 1034:
      break; // getters take no argument
    case 2:
      out.push(formatFlags(ev.argI32(2), FD_FLAGS));
      break;
    case 4:
      out.push(formatFlags(ev.argI32(2) & ~3, OPEN_FLAGS));
      break;
    case 5:
    case 6:
    case 7:
      out.push(ptr(ev.argU64(2)));
      break;
    default:
      out.push(String(ev.argI32(2)));
  }
  return out;
}

function futexArgs(ev: SyscallEvent): string[] {
  const op = ev.argI32(1);
  const base = op & 0x7f;
  let name = FUTEX_OPS[base] ?? String(base);
  if (op & 128) name += "_PRIVATE";
  if (op & 256) name += "|FUTEX_CLOCK_REALTIME";
  const rest = op & ~(0x7f | 128 | 256);
  if (rest) name += `|0x${(rest >>> 0).toString(16)}`;
  const out = [ptr(ev.argU64(0)), name, String(ev.argI32(2))];
  if (base === 0) out.push(ptr(ev.argU64(3)));
  else if (base === 9) out.push(ptr(ev.argU64(3)), ptr(ev.argU64(4)), hex(ev.argU64(5)));
  else if (base !== 1) out.push(hex(ev.argU64(3)), ptr(ev.argU64(4)), String(ev.argI32(5)));
  return out;
}

function argsOf(ev: SyscallEvent, mem: ProgramMemory, name: string, ret: number | undefined): string[] {
  if (name === "fcntl") return fcntlArgs(ev);
  if (name === "futex") return futexArgs(ev);
  const sig = SIGNATURES[name];
  if (sig === undefined) {
    const out: string[] = [];
    for (let i = 0; i < 6; i++) out.push(hex(ev.argU64(i)));
    return out;
  }
  const out: string[] = [];
  for (let i = 0; i < sig.length; i++) {
    try {
      out.push(formatArg(sig[i]!, ev, i, mem, ret));
    } catch {
      out.push(hex(ev.argU64(i)));
    }
  }
  // open/openat take a mode only with O_CREAT or O_TMPFILE.
  if (name === "open" || name === "openat") {
    const flags = ev.argI32(name === "open" ? 1 : 2);
    if (flags & O_CREAT || (flags & O_TMPFILE) === O_TMPFILE) out.push(formatMode(ev.argI32(name === "open" ? 2 : 3)));
  }
  return out;
}

/**
 * A system call as strace prints it, without the result:
 * `openat(AT_FDCWD, "/etc/passwd", O_RDONLY)`. With `ret` (the call's
 * result, once it has returned), buffers the call filled are shown too:
 * `read(3, "root:x:0:0:root:/root:/bin/bash\n"..., 4096)`.
 */
export function formatSyscall(ev: SyscallEvent, memory: ProgramMemory, ret?: number): string {
  const name = syscallName(ev.nr);
  try {
    return `${name}(${argsOf(ev, memory, name, ret).join(", ")})`;
  } catch {
    const raw: string[] = [];
    for (let i = 0; i < 6; i++) {
      try {
        raw.push(hex(ev.argU64(i)));
      } catch {
        raw.push("?");
      }
    }
    return `${name}(${raw.join(", ")})`;
  }
}

const FILLS_BUFFER = new Set(
  Object.entries(SIGNATURES)
    .filter(([, kinds]) => kinds.includes("rbuf") || kinds.includes("rstr") || kinds.includes("riov2"))
    .map(([name]) => name),
);

/** True when the call writes a buffer that strace shows after it returns (read, pread64, readlink, getcwd ...). */
export function fillsBuffer(nr: number): boolean {
  return FILLS_BUFFER.has(syscallName(nr));
}

const HEX_RESULT = new Set(["mmap", "mremap", "brk", "shmat"]);
const NO_RETURN = new Set(["exit", "exit_group"]);

/** The result as strace prints it after `= `: `3`, `-1 ENOENT (No such file or directory)`, `0x7f...` for mmap. */
export function formatResult(nr: number, ret: number): string {
  const name = syscallName(nr);
  if (NO_RETURN.has(name)) return "?";
  if (!Number.isFinite(ret)) return "?";
  if (ret < 0 && ret >= -4095) {
    const e = -ret;
    const n = errnoSymbol(e);
    if (e >= 512 && e <= 516) return `? ${n} (${errnoMessage(e)})`;
    return `-1 ${n} (${errnoMessage(e)})`;
  }
  if (HEX_RESULT.has(name)) {
    const v = ret < 0 ? BigInt.asUintN(64, BigInt(Math.trunc(ret))) : BigInt(Math.trunc(ret));
    return `0x${v.toString(16)}`;
  }
  return String(Math.trunc(ret));
}
