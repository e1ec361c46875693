/**
 * Memory syscalls over the fixed identity mapping: brk, mmap (anonymous and
 * file-backed private), munmap, mprotect, madvise, mremap, msync, mlock.
 *
 * Protections are recorded (for /proc/self/maps and mprotect's errors) but not
 * enforced: every page of program memory stays present and writable.
 * With `task.nativeMemory` (the seccomp platform), calls on anonymous memory run
 * natively in the program's own kernel (Resume.Continue).
 */
import { ftruncate, close as hostClose, pwrite as hostPwrite, MFD_CLOEXEC, memfdCreate } from "@kindling/sys-util";
import {
  NATIVE_MADVISE_ADVICE,
  type ProgramMemory,
  Resume,
  type SyscallEvent,
  type TaskControl,
} from "@kindling/syscall-tap";
import {
  MADV_COLLAPSE,
  MADV_DONTNEED,
  MADV_DONTNEED_LOCKED,
  MADV_FREE,
  MADV_HWPOISON,
  MADV_NORMAL,
  MADV_REMOVE,
  MADV_SOFT_OFFLINE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_HUGETLB,
  MAP_KNOWN_FLAGS,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_SHARED_VALIDATE,
  MAP_SYNC,
  MAP_TYPE,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  MS_ASYNC,
  MS_INVALIDATE,
  MS_SYNC,
  O_ACCMODE,
  O_RDWR,
  O_WRONLY,
  PAGE_SIZE,
  PROT_EXEC,
  PROT_GROWSDOWN,
  PROT_GROWSUP,
  PROT_READ,
  PROT_SEM,
  PROT_WRITE,
  RLIMIT_AS,
  RLIMIT_DATA,
  TASK_SIZE,
} from "../abi.js";
import { define, type Handler, type Outcome, type SyscallTable } from "../dispatch.js";
import { EACCES, EBADF, EFAULT, EINVAL, ENODEV, ENOMEM, EOPNOTSUPP, EOVERFLOW, EPERM } from "../errno.js";
import type { Libos } from "../kernel.js";
import { type Mapping, pageUp } from "../mm.js";
import type { FileDescription } from "../vfs-contract.js";

/** Bytes copied per pread when filling a file mapping. */
const FILE_CHUNK = 1 << 20;

/** The flags mmap on MAP_SHARED_VALIDATE accepts (LEGACY_MAP_MASK | MAP_SYNC). */
const SHARED_VALIDATE_OK = MAP_KNOWN_FLAGS & ~0x4000000;

/** True when argument i is page aligned (exact for any 64-bit value: the low bits are in argI32). */
function argAligned(ev: SyscallEvent, i: number): boolean {
  return (ev.argI32(i) & (PAGE_SIZE - 1)) === 0;
}

/** A flags argument: its value, or -1 (every bit set: invalid) when it does not fit in 32 bits. */
function flagsArg(ev: SyscallEvent, i: number): number {
  return ev.argU64(i) > 0xffff_ffffn ? -1 : ev.arg(i);
}

function native(t: TaskControl, out: Outcome): boolean {
  if (!t.nativeMemory) return false;
  out.resume = Resume.Continue;
  return true;
}

/**
 * Copies `len` bytes of `desc` from `offset` into program memory at `addr`
 * (already zeroed). Returns 0 or -errno.
 */
function fillFromFile(mem: ProgramMemory, desc: FileDescription, addr: number, len: number, offset: number): number {
  let done = 0;
  const tmp = mem.aliases ? null : new Uint8Array(Math.min(len, FILE_CHUNK));
  while (done < len) {
    const n = Math.min(FILE_CHUNK, len - done);
    const dst = tmp === null ? mem.view(addr + done, n) : tmp.subarray(0, n);
    const got = desc.pread(dst, offset + done);
    if (got < 0) return got === -29 /* ESPIPE */ ? -ENODEV : got;
    if (got === 0) break;
    if (tmp !== null) mem.write(addr + done, tmp.subarray(0, got));
    done += got;
  }
  return 0;
}

function pathOf(desc: FileDescription): string {
  try {
    return desc.path ?? "";
  } catch {
    return "";
  }
}

/** What a platform whose host kernel runs the program's memory calls offers (seccomp's SeccompTask). */
interface FdInstaller {
  installFd(hostFd: number, targetFd?: number, cloexec?: boolean): number;
}

/**
 * A file mapping where the host kernel manages the program's memory (seccomp):
 * the program's own kernel must map it, but the fd is the libos's. The file's
 * bytes from the mapping's offset are copied into a memfd, which is installed
 * in the program at the same fd number (SECCOMP_IOCTL_NOTIF_ADDFD), and the
 * call then runs natively on it. A snapshot: right for MAP_PRIVATE and for
 * read-only MAP_SHARED; a writable shared mapping is ENODEV, as on kvm.
 */
function mmapFileNatively(
  k: Libos,
  t: TaskControl,
  out: Outcome,
  fd: number,
  rawLen: number,
  prot: number,
  flags: number,
  off: bigint,
): number {
  const desc = k.fs?.fds.get(fd);
  if (desc === undefined) return -EBADF;
  if ((off & BigInt(PAGE_SIZE - 1)) !== 0n || rawLen === 0) return -EINVAL;
  const len = pageUp(rawLen);
  if (!(len <= TASK_SIZE) || off + BigInt(len) > BigInt(TASK_SIZE)) return -EOVERFLOW;
  const shared = (flags & MAP_TYPE) !== MAP_PRIVATE;
  const acc = desc.flags & O_ACCMODE;
  if (acc === O_WRONLY) return -EACCES;
  if (shared && (prot & PROT_WRITE) !== 0 && acc !== O_RDWR) return -EACCES;
  if (desc.mmapKind === undefined) return -ENODEV;
  if (shared && (prot & PROT_WRITE) !== 0 && desc.mmapKind === "file") return -ENODEV;
  const installer = t as TaskControl & Partial<FdInstaller>;
  if (typeof installer.installFd !== "function") return -ENODEV;
  const start = Number(off);
  const memfd = memfdCreate("kindling-mmap", MFD_CLOEXEC);
  try {
    ftruncate(memfd, start + len);
    if (desc.mmapKind === "file") {
      const buf = new Uint8Array(Math.min(len, FILE_CHUNK));
      for (let done = 0; done < len; ) {
        const got = desc.pread(buf.subarray(0, Math.min(buf.length, len - done)), start + done);
        if (got < 0) return got === -29 /* ESPIPE */ ? -ENODEV : got;
        if (got === 0) break;
        hostPwrite(memfd, buf, 0, got, start + done);
        done += got;
      }
    }
    installer.installFd(memfd, fd, false);
  } finally {
    hostClose(memfd);
  }
  out.resume = Resume.Continue;
  return 0;
}

/** Copies [from, from+len) to [to, to+len) in program memory (non-overlapping). */
function copyMemory(mem: ProgramMemory, from: number, to: number, len: number): void {
  for (let off = 0; off < len; off += FILE_CHUNK) {
    const n = Math.min(FILE_CHUNK, len - off);
    if (mem.aliases) mem.view(to + off, n).set(mem.view(from + off, n));
    else mem.write(to + off, mem.read(from + off, n));
  }
}

export function mmap(k: Libos, t: TaskControl, ev: SyscallEvent, out: Outcome): number {
  const addr = ev.arg(0);
  const rawLen = ev.arg(1);
  const prot = ev.argI32(2) >>> 0;
  const flags = ev.argI32(3) >>> 0;
  const fd = ev.argI32(4);
  const off = ev.argU64(5);
  const anonymous = (flags & MAP_ANONYMOUS) !== 0;
  // Anonymous memory of a host process (seccomp) is its kernel's (a register-only decision);
  // huge pages would come from the host's shared pool: none is reserved, as on kvm.
  if (anonymous && t.nativeMemory && (flags & MAP_HUGETLB) !== 0) return -ENOMEM;
  if (anonymous && native(t, out)) return 0;
  if (!anonymous && t.nativeMemory) return mmapFileNatively(k, t, out, fd, ev.arg(1), prot, flags, off);
  if ((off & BigInt(PAGE_SIZE - 1)) !== 0n) return -EINVAL;
  let desc: FileDescription | undefined;
  if (!anonymous) {
    desc = k.fs?.fds.get(fd);
    if (desc === undefined) return -EBADF;
  }
  if (rawLen === 0) return -EINVAL;
  const len = pageUp(rawLen);
  if (!(len <= TASK_SIZE)) return -ENOMEM;
  if (off + BigInt(len) > 0x7fff_ffff_ffff_ffffn) return -EOVERFLOW;
  const type = flags & MAP_TYPE;
  if (type === MAP_SHARED_VALIDATE) {
    if (flags !== (flags & SHARED_VALIDATE_OK)) return -EOPNOTSUPP;
    if ((flags & MAP_SYNC) !== 0) return -EOPNOTSUPP;
  } else if (type !== MAP_SHARED && type !== MAP_PRIVATE) {
    return -EINVAL;
  }
  const shared = type !== MAP_PRIVATE;
  if ((flags & MAP_HUGETLB) !== 0) return -ENOMEM; // no huge pages reserved (vm.nr_hugepages = 0)
  const fixed = (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) !== 0;
  if (fixed && !argAligned(ev, 0)) return -EINVAL;
  if (fixed && addr + len > TASK_SIZE) return -ENOMEM;

  let kind: Mapping["kind"] = "anon";
  let offset = 0;
  if (desc !== undefined) {
    const acc = desc.flags & O_ACCMODE;
    if (acc === O_WRONLY) return -EACCES;
    if (shared && (prot & PROT_WRITE) !== 0 && acc !== O_RDWR) return -EACCES;
    if (desc.mmapKind === undefined) return -ENODEV;
    if (desc.mmapKind === "file") {
      // Writes through a shared mapping would have to reach the file: not supported.
      if (shared && (prot & PROT_WRITE) !== 0) return -ENODEV;
      kind = "file";
      offset = Number(off);
    }
  }
  if (k.mm.used + len > k.rlimitNumber(RLIMIT_AS)) return -ENOMEM;
  const attrs = { prot, flags, kind, name: kind === "file" ? pathOf(desc!) : "", offset };
  const mem = t.memory;
  let at: number;
  if (fixed) {
    at = k.mm.mapFixed(mem, addr, len, (flags & MAP_FIXED) === 0, attrs);
  } else {
    at = k.mm.mapAnywhere(mem, len, addr, attrs);
  }
  if (at < 0) return at;
  if (kind === "file") {
    const r = fillFromFile(mem, desc!, at, len, offset);
    if (r < 0) {
      k.mm.unmap(at, at + len);
      return r;
    }
  }
  return at;
}

function mremap(
  k: Libos,
  t: TaskControl,
  ev: SyscallEvent,
  old: number,
  oldLenRaw: number,
  newLenRaw: number,
  flags: number,
  newAddr: number,
): number {
  if (flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)) return -EINVAL;
  const mayMove = (flags & MREMAP_MAYMOVE) !== 0;
  if ((flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) !== 0 && !mayMove) return -EINVAL;
  if ((flags & MREMAP_DONTUNMAP) !== 0 && oldLenRaw !== newLenRaw) return -EINVAL;
  if (!argAligned(ev, 0)) return -EINVAL;
  const oldLen = pageUp(oldLenRaw);
  const newLen = pageUp(newLenRaw);
  if (newLen === 0) return -EINVAL;
  if (old + oldLen > TASK_SIZE || newLen > TASK_SIZE) return -EINVAL;
  const mm = k.mm;
  const mem = t.memory;
  const vma = mm.find(old);
  if (vma === undefined) return -EFAULT;
  if (oldLen === 0) return -EINVAL; // duplicating a private mapping
  if (old + oldLen > vma.end) return -EFAULT;
  const attrs = {
    prot: vma.prot,
    flags: vma.flags,
    kind: vma.kind,
    name: vma.name,
    offset: vma.offset + (old - vma.start),
  };

  const moveTo = (dest: number): number => {
    // Place [dest, dest+newLen) with the contents of the old range. A moved
    // piece of the heap is ordinary anonymous memory: brk does not follow it.
    const keep = Math.min(oldLen, newLen);
    const moved = vma.kind === "brk" ? { ...attrs, kind: "anon" as const, name: "" } : attrs;
    const r = mm.map(null, dest, newLen, moved, false);
    if (r < 0) return r;
    copyMemory(mem, old, dest, keep);
    if (newLen > keep) mem.fill(dest + keep, newLen - keep, 0);
    if ((flags & MREMAP_DONTUNMAP) !== 0) {
      mm.zeroNow(mem, old, old + oldLen);
    } else {
      mm.unmap(old, old + oldLen);
    }
    return dest;
  };

  if ((flags & MREMAP_FIXED) !== 0) {
    if (!argAligned(ev, 4)) return -EINVAL;
    if (newAddr < old + oldLen && old < newAddr + newLen) return -EINVAL;
    if (newAddr + newLen > TASK_SIZE) return -EINVAL;
    if (!mm.isPlaceable(newAddr, newAddr + newLen)) return -ENOMEM;
    if (!mm.fits(newLen - ((flags & MREMAP_DONTUNMAP) !== 0 ? 0 : oldLen), mm.mappedBytes(newAddr, newAddr + newLen)))
      return -ENOMEM;
    mm.unmap(newAddr, newAddr + newLen);
    return moveTo(newAddr);
  }
  if ((flags & MREMAP_DONTUNMAP) !== 0) {
    // Always a move: the old range stays mapped, emptied.
    if (!mm.fits(newLen)) return -ENOMEM;
    const dest = mm.findFree(newLen);
    if (dest < 0) return -ENOMEM;
    return moveTo(dest);
  }
  if (newLen <= oldLen) {
    if (newLen < oldLen) mm.unmap(old + newLen, old + oldLen);
    return old;
  }
  const grow = newLen - oldLen;
  const tail = old + oldLen;
  if (!mm.fits(grow)) return -ENOMEM;
  if (tail === vma.end && mm.isFree(tail, tail + grow) && mm.isPlaceable(tail, tail + grow) && !(vma.kind === "brk")) {
    const r = mm.map(mem, tail, grow, { ...attrs, offset: attrs.offset + oldLen });
    if (r < 0) return r;
    return old;
  }
  if (!mayMove) return -ENOMEM;
  const dest = mm.findFree(newLen);
  if (dest < 0) return -ENOMEM;
  return moveTo(dest);
}

export function register(table: SyscallTable): void {
  define(table, "brk", (k, t, ev, out) => {
    if (native(t, out)) return 0;
    // Like Linux (may_expand_vm), growing the break keeps the address space within RLIMIT_AS.
    const grow = pageUp(ev.arg(0)) - pageUp(k.mm.brk);
    if (grow > 0 && k.mm.used + grow > k.rlimitNumber(RLIMIT_AS)) return k.mm.brk;
    return k.mm.setBrk(t.memory, ev.arg(0), k.rlimitNumber(RLIMIT_DATA));
  });
  define(table, "mmap", mmap);
  define(table, "munmap", (k, t, ev, out) => {
    const addr = ev.arg(0);
    const len = ev.arg(1);
    if (k.mm.find(addr)?.kind !== "file" && native(t, out)) return 0;
    if (!argAligned(ev, 0) || len === 0) return -EINVAL;
    const end = addr + pageUp(len);
    if (!(end <= TASK_SIZE)) return -EINVAL;
    k.mm.unmap(addr, end);
    return 0;
  });
  define(table, "mprotect", (k, t, ev, out) => {
    if (native(t, out)) return 0;
    const addr = ev.arg(0);
    const prot = ev.arg(2);
    if (!argAligned(ev, 0)) return -EINVAL;
    const known = PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM | PROT_GROWSDOWN | PROT_GROWSUP;
    if (prot > 0xffff_ffff || (prot & ~known) !== 0) return -EINVAL;
    if ((prot & (PROT_GROWSDOWN | PROT_GROWSUP)) === (PROT_GROWSDOWN | PROT_GROWSUP)) return -EINVAL;
    const len = ev.arg(1);
    if (len === 0) return 0;
    const end = addr + pageUp(len);
    if (!(end <= TASK_SIZE)) return -ENOMEM;
    return k.mm.protect(addr, end, prot & (PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM));
  });
  define(table, "madvise", (k, t, ev, out) => {
    const addr = ev.arg(0);
    const advice = ev.argI32(2);
    // Advice on its own pages runs in a host process's kernel (seccomp); the rest never does.
    if (t.nativeMemory && NATIVE_MADVISE_ADVICE.includes(advice) && native(t, out)) return 0;
    const validAdvice =
      (advice >= MADV_NORMAL && advice <= 4) ||
      (advice >= MADV_FREE && advice <= MADV_COLLAPSE) ||
      advice === MADV_HWPOISON ||
      advice === MADV_SOFT_OFFLINE;
    if (!validAdvice) return -EINVAL;
    if (!argAligned(ev, 0)) return -EINVAL;
    // Taking a host page out of service needs CAP_SYS_ADMIN (madvise_inject_error).
    if (advice === MADV_HWPOISON || advice === MADV_SOFT_OFFLINE) return -EPERM;
    const len = pageUp(ev.arg(1));
    const end = addr + len;
    if (!(end <= TASK_SIZE)) return -EINVAL;
    // KSM advice (MERGEABLE, UNMERGEABLE) of a host process: accepted, never merged with other
    // processes' pages (a side channel to them), as on kvm.
    if (len === 0 || t.nativeMemory) return 0;
    const mm = k.mm;
    const mapped = mm.isMapped(addr, end);
    if (advice === MADV_DONTNEED || advice === MADV_DONTNEED_LOCKED || advice === MADV_REMOVE) {
      for (const m of mm.mappings()) {
        if (m.end <= addr || m.start >= end) continue;
        const lo = Math.max(m.start, addr);
        const hi = Math.min(m.end, end);
        if (advice === MADV_REMOVE && (m.flags & MAP_TYPE) === MAP_PRIVATE) return -EINVAL;
        // Anonymous memory reads as zeros afterwards. File-backed memory (and the program
        // image) would be read from the file again in Linux; here it keeps its contents
        // (a gap only when the program changed those pages).
        if (m.kind !== "file" && m.kind !== "image") mm.zeroNow(t.memory, lo, hi);
      }
    }
    return mapped ? 0 : -ENOMEM;
  });
  define(table, "mremap", (k, t, ev, out) => {
    if (native(t, out)) return 0;
    return mremap(k, t, ev, ev.arg(0), ev.arg(1), ev.arg(2), flagsArg(ev, 3), ev.arg(4));
  });
  define(table, "msync", (k, _t, ev) => {
    const addr = ev.arg(0);
    const flags = flagsArg(ev, 2);
    if (!argAligned(ev, 0)) return -EINVAL;
    if (flags & ~(MS_ASYNC | MS_INVALIDATE | MS_SYNC)) return -EINVAL;
    if ((flags & MS_ASYNC) !== 0 && (flags & MS_SYNC) !== 0) return -EINVAL;
    const end = addr + pageUp(ev.arg(1));
    if (!(end <= TASK_SIZE)) return -ENOMEM;
    return end === addr || k.mm.isMapped(addr, end) ? 0 : -ENOMEM;
  });
  const lockRange: Handler = (k, _t, ev) => {
    const addr = ev.arg(0);
    const start = addr - (addr % PAGE_SIZE);
    const end = pageUp(addr + ev.arg(1));
    if (!(end <= TASK_SIZE) || end < start) return -EINVAL;
    return end === start || k.mm.isMapped(start, end) ? 0 : -ENOMEM;
  };
  define(table, "mlock", lockRange);
  define(table, "munlock", lockRange);
  define(table, "mlock2", (k, t, ev, out) => (flagsArg(ev, 2) & ~1 ? -EINVAL : lockRange(k, t, ev, out)));
  define(table, "mlockall", (_k, _t, ev) => (ev.arg(0) === 0 || flagsArg(ev, 0) & ~7 ? -EINVAL : 0));
  define(table, "munlockall", () => 0);
  define(table, "mincore", (k, t, ev) => {
    const addr = ev.arg(0);
    if (!argAligned(ev, 0)) return -EINVAL;
    const end = addr + pageUp(ev.arg(1));
    if (!(end <= TASK_SIZE)) return -ENOMEM;
    if (!k.mm.isMapped(addr, end)) return -ENOMEM;
    const pages = (end - addr) / PAGE_SIZE;
    if (pages > 0) t.memory.fill(ev.arg(2), pages, 1);
    return 0;
  });
}
