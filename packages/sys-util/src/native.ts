import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Raw surface of the addon. Integer results follow the kernel: >= 0 or -errno. */
/** What the native jailed spawn applied (sys-util's JailReport adds how the task limit holds). */
export interface NativeJailReport {
  /** The namespaces made: of "user", "pid", "mount", "ipc", "uts", "net". */
  namespaces: string[];
  pidNamespace: boolean;
  /** "pivot_root" (an empty root), "chroot" (the same, where "/" is no mount point), "host" (none). */
  root: "pivot_root" | "chroot" | "host";
  /** The program's host uid and gid. */
  uid: number;
  gid: number;
  /** Every capability set empty and the bounding set dropped, securebits locked. */
  capabilitiesDropped: boolean;
  noNewPrivs: boolean;
  maxTasks: number;
  /** Whether the child joined the pids cgroup it was given. */
  cgroup: boolean;
  notes: string[];
}

export interface NativeBinding {
  mmap(len: number | bigint, prot: number, flags: number, fd: number, offset: number | bigint): ArrayBuffer;
  munmap(buf: ArrayBuffer): number;
  madvise(buf: ArrayBuffer, offset: number, len: number, advice: number): number;
  mprotect(buf: ArrayBuffer, offset: number, len: number, prot: number): number;
  msync(buf: ArrayBuffer, offset: number, len: number, flags: number): number;
  addressOf(buf: ArrayBufferLike | ArrayBufferView): bigint;
  mappingContains(addr: bigint, len: bigint): boolean;
  open(path: string, flags: number, mode: number): number;
  close(fd: number): number;
  ioctl(fd: number, request: number | bigint, arg?: number | bigint | ArrayBufferView | ArrayBuffer): number;
  ioctlRun(fd: number): number;
  memfdCreate(name: string, flags: number): number;
  ftruncate(fd: number, len: number | bigint): number;
  eventfd(initval: number, flags: number): number;
  eventfdRead(fd: number): bigint;
  eventfdWrite(fd: number, value: number | bigint): number;
  pread(
    fd: number,
    buf: ArrayBufferLike | ArrayBufferView,
    offset: number,
    len: number,
    fileOffset: number | bigint,
  ): number;
  pwrite(
    fd: number,
    buf: ArrayBufferLike | ArrayBufferView,
    offset: number,
    len: number,
    fileOffset: number | bigint,
  ): number;
  syscall(nr: number, ...args: Array<number | bigint | ArrayBufferView | ArrayBuffer>): number;
  gettid(): number;
  kickSignal(): number;
  setKickTarget(kvmRun: ArrayBuffer | null): void;
  threadTimerCreate(clockId: number): number;
  threadTimerSet(id: number, valueNs: number | bigint, intervalNs: number | bigint): number;
  threadTimerDelete(id: number): number;
  spawn(options: NativeSpawnOptions): {
    pid: number;
    listenerFd: number;
    initPid?: number;
    statusFd?: number;
    jail?: NativeJailReport;
  };
  waitpid(pid: number, options: number): [number, number];
  seccompInstall(program: Uint8Array, flags: number): number;
}

export interface NativeSpawnOptions {
  file: string;
  argv: string[];
  envp: string[];
  cwd?: string;
  fds?: number[];
  seccomp?: Uint8Array;
  seccompFlags?: number;
  traceme?: boolean;
  noNewPrivs?: boolean;
  jail?: {
    uid?: number;
    gid?: number;
    maxTasks: number;
    cgroupProcsFd: number;
    namespaces: boolean;
    emptyRoot: boolean;
    /** [resource, soft, hard] triples (-1: unlimited), set before the program starts. */
    rlimits?: number[];
  };
}

function locateAddon(): string {
  // Works from src/ (tests) and dist/ (published): both sit one level below the package root.
  const here = dirname(fileURLToPath(import.meta.url));
  const root = join(here, "..");
  for (const kind of ["Release", "Debug"]) {
    const p = join(root, "build", kind, "kindling_sys.node");
    if (existsSync(p)) return p;
  }
  throw new Error(
    `@kindling/sys-util: native addon not built (looked in ${root}/build). Run \`node scripts/build-native.cjs\` in the package.`,
  );
}

let cached: NativeBinding | undefined;

/** The loaded addon (loaded once per thread on first use). */
export function native(): NativeBinding {
  if (cached === undefined) {
    const require = createRequire(import.meta.url);
    cached = require(locateAddon()) as NativeBinding;
  }
  return cached;
}
