// Symbolic names strace prints for x86-64 Linux constants (from the UAPI headers).

export type FlagTable = ReadonlyArray<readonly [number, string]>;

export const OPEN_ACCESS: readonly string[] = ["O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE"];
/** Open flags other than the access mode, in strace's order. */
export const OPEN_FLAGS: FlagTable = [
  [0o100, "O_CREAT"],
  [0o200, "O_EXCL"],
  [0o400, "O_NOCTTY"],
  [0o1000, "O_TRUNC"],
  [0o2000, "O_APPEND"],
  [0o4000, "O_NONBLOCK"],
  [0o4010000, "O_SYNC"],
  [0o10000, "O_DSYNC"],
  [0o20000, "O_ASYNC"],
  [0o40000, "O_DIRECT"],
  [0o100000, "O_LARGEFILE"],
  [0o20200000, "O_TMPFILE"],
  [0o200000, "O_DIRECTORY"],
  [0o400000, "O_NOFOLLOW"],
  [0o1000000, "O_NOATIME"],
  [0o2000000, "O_CLOEXEC"],
  [0o10000000, "O_PATH"],
];
export const O_CREAT = 0o100;
export const O_TMPFILE = 0o20200000;

export const AT_FDCWD = -100;
export const AT_FLAGS: FlagTable = [
  [0x100, "AT_SYMLINK_NOFOLLOW"],
  [0x200, "AT_REMOVEDIR"],
  [0x400, "AT_SYMLINK_FOLLOW"],
  [0x800, "AT_NO_AUTOMOUNT"],
  [0x1000, "AT_EMPTY_PATH"],
  [0x2000, "AT_STATX_FORCE_SYNC"],
  [0x4000, "AT_STATX_DONT_SYNC"],
];
/** faccessat2's 0x200 is AT_EACCESS. */
export const ACCESS_AT_FLAGS: FlagTable = [
  [0x100, "AT_SYMLINK_NOFOLLOW"],
  [0x200, "AT_EACCESS"],
  [0x1000, "AT_EMPTY_PATH"],
];

export const PROT_FLAGS: FlagTable = [
  [0x1, "PROT_READ"],
  [0x2, "PROT_WRITE"],
  [0x4, "PROT_EXEC"],
  [0x8, "PROT_SEM"],
  [0x01000000, "PROT_GROWSDOWN"],
  [0x02000000, "PROT_GROWSUP"],
];

export const MAP_TYPES: Record<number, string> = { 1: "MAP_SHARED", 2: "MAP_PRIVATE", 3: "MAP_SHARED_VALIDATE" };
export const MAP_FLAGS: FlagTable = [
  [0x10, "MAP_FIXED"],
  [0x20, "MAP_ANONYMOUS"],
  [0x40, "MAP_32BIT"],
  [0x100, "MAP_GROWSDOWN"],
  [0x800, "MAP_DENYWRITE"],
  [0x1000, "MAP_EXECUTABLE"],
  [0x2000, "MAP_LOCKED"],
  [0x4000, "MAP_NORESERVE"],
  [0x8000, "MAP_POPULATE"],
  [0x10000, "MAP_NONBLOCK"],
  [0x20000, "MAP_STACK"],
  [0x40000, "MAP_HUGETLB"],
  [0x80000, "MAP_SYNC"],
  [0x100000, "MAP_FIXED_NOREPLACE"],
];

export const MREMAP_FLAGS: FlagTable = [
  [1, "MREMAP_MAYMOVE"],
  [2, "MREMAP_FIXED"],
  [4, "MREMAP_DONTUNMAP"],
];

export const MADVICE: Record<number, string> = {
  0: "MADV_NORMAL",
  1: "MADV_RANDOM",
  2: "MADV_SEQUENTIAL",
  3: "MADV_WILLNEED",
  4: "MADV_DONTNEED",
  8: "MADV_FREE",
  9: "MADV_REMOVE",
  10: "MADV_DONTFORK",
  11: "MADV_DOFORK",
  12: "MADV_MERGEABLE",
  13: "MADV_UNMERGEABLE",
  14: "MADV_HUGEPAGE",
  15: "MADV_NOHUGEPAGE",
  16: "MADV_DONTDUMP",
  17: "MADV_DODUMP",
  18: "MADV_WIPEONFORK",
  19: "MADV_KEEPONFORK",
  20: "MADV_COLD",
  21: "MADV_PAGEOUT",
  22: "MADV_POPULATE_READ",
  23: "MADV_POPULATE_WRITE",
  24: "MADV_DONTNEED_LOCKED",
  25: "MADV_COLLAPSE",
  100: "MADV_HWPOISON",
};

export const SIGNALS: readonly string[] = [
  "0",
  "SIGHUP",
  "SIGINT",
  "SIGQUIT",
  "SIGILL",
  "SIGTRAP",
  "SIGABRT",
  "SIGBUS",
  "SIGFPE",
  "SIGKILL",
  "SIGUSR1",
  "SIGSEGV",
  "SIGUSR2",
  "SIGPIPE",
  "SIGALRM",
  "SIGTERM",
  "SIGSTKFLT",
  "SIGCHLD",
  "SIGCONT",
  "SIGSTOP",
  "SIGTSTP",
  "SIGTTIN",
  "SIGTTOU",
  "SIGURG",
  "SIGXCPU",
  "SIGXFSZ",
  "SIGVTALRM",
  "SIGPROF",
  "SIGWINCH",
  "SIGIO",
  "SIGPWR",
  "SIGSYS",
];

export const SIGPROCMASK_HOW: Record<number, string> = { 0: "SIG_BLOCK", 1: "SIG_UNBLOCK", 2: "SIG_SETMASK" };
export const WHENCE: Record<number, string> = {
  0: "SEEK_SET",
  1: "SEEK_CUR",
  2: "SEEK_END",
  3: "SEEK_DATA",
  4: "SEEK_HOLE",
};
export const ACCESS_MODES: FlagTable = [
  [4, "R_OK"],
  [2, "W_OK"],
  [1, "X_OK"],
];

export const FCNTL_CMDS: Record<number, string> = {
  0: "F_DUPFD",
  1: "F_GETFD",
  2: "F_SETFD",
  3: "F_GETFL",
  4: "F_SETFL",
  5: "F_GETLK",
  6: "F_SETLK",
  7: "F_SETLKW",
  8: "F_SETOWN",
  9: "F_GETOWN",
  10: "F_SETSIG",
  11: "F_GETSIG",
  1024: "F_SETLEASE",
  1025: "F_GETLEASE",
  1026: "F_NOTIFY",
  1030: "F_DUPFD_CLOEXEC",
  1031: "F_SETPIPE_SZ",
  1032: "F_GETPIPE_SZ",
  1033: "F_ADD_SEALS",
  1034: "F_GET_SEALS",
};

export const CLOCKS: Record<number, string> = {
  0: "CLOCK_REALTIME",
  1: "CLOCK_MONOTONIC",
  2: "CLOCK_PROCESS_CPUTIME_ID",
  3: "CLOCK_THREAD_CPUTIME_ID",
  4: "CLOCK_MONOTONIC_RAW",
  5: "CLOCK_REALTIME_COARSE",
  6: "CLOCK_MONOTONIC_COARSE",
  7: "CLOCK_BOOTTIME",
  8: "CLOCK_REALTIME_ALARM",
  9: "CLOCK_BOOTTIME_ALARM",
  11: "CLOCK_TAI",
};

export const ARCH_PRCTL: Record<number, string> = {
  4097: "ARCH_SET_GS",
  4098: "ARCH_SET_FS",
  4099: "ARCH_GET_FS",
  4100: "ARCH_GET_GS",
  4113: "ARCH_GET_CPUID",
  4114: "ARCH_SET_CPUID",
};

export const FUTEX_OPS: Record<number, string> = {
  0: "FUTEX_WAIT",
  1: "FUTEX_WAKE",
  2: "FUTEX_FD",
  3: "FUTEX_REQUEUE",
  4: "FUTEX_CMP_REQUEUE",
  5: "FUTEX_WAKE_OP",
  6: "FUTEX_LOCK_PI",
  7: "FUTEX_UNLOCK_PI",
  8: "FUTEX_TRYLOCK_PI",
  9: "FUTEX_WAIT_BITSET",
  10: "FUTEX_WAKE_BITSET",
  11: "FUTEX_WAIT_REQUEUE_PI",
  12: "FUTEX_CMP_REQUEUE_PI",
  13: "FUTEX_LOCK_PI2",
};

export const GRND_FLAGS: FlagTable = [
  [1, "GRND_NONBLOCK"],
  [2, "GRND_RANDOM"],
  [4, "GRND_INSECURE"],
];

export const RLIMITS: readonly string[] = [
  "RLIMIT_CPU",
  "RLIMIT_FSIZE",
  "RLIMIT_DATA",
  "RLIMIT_STACK",
  "RLIMIT_CORE",
  "RLIMIT_RSS",
  "RLIMIT_NPROC",
  "RLIMIT_NOFILE",
  "RLIMIT_MEMLOCK",
  "RLIMIT_AS",
  "RLIMIT_LOCKS",
  "RLIMIT_SIGPENDING",
  "RLIMIT_MSGQUEUE",
  "RLIMIT_NICE",
  "RLIMIT_RTPRIO",
  "RLIMIT_RTTIME",
];

export const WAIT_FLAGS: FlagTable = [
  [1, "WNOHANG"],
  [2, "WSTOPPED"],
  [4, "WEXITED"],
  [8, "WCONTINUED"],
  [0x01000000, "WNOWAIT"],
  [0x20000000, "__WNOTHREAD"],
  [0x40000000, "__WALL"],
  [0x80000000, "__WCLONE"],
];

export const IOCTL_CMDS: Record<number, string> = {
  21505: "TCGETS",
  21506: "TCSETS",
  21507: "TCSETSW",
  21508: "TCSETSF",
  21519: "TIOCGPGRP",
  21520: "TIOCSPGRP",
  21523: "TIOCGWINSZ",
  21524: "TIOCSWINSZ",
  21531: "FIONREAD",
  21537: "FIONBIO",
  21584: "FIONCLEX",
  21585: "FIOCLEX",
};

export const SOCKET_DOMAINS: Record<number, string> = {
  1: "AF_UNIX",
  2: "AF_INET",
  10: "AF_INET6",
  16: "AF_NETLINK",
  17: "AF_PACKET",
  40: "AF_VSOCK",
};
export const SOCKET_TYPES: Record<number, string> = {
  1: "SOCK_STREAM",
  2: "SOCK_DGRAM",
  3: "SOCK_RAW",
  4: "SOCK_RDM",
  5: "SOCK_SEQPACKET",
  10: "SOCK_PACKET",
};
export const SOCKET_TYPE_FLAGS: FlagTable = [
  [0o4000, "SOCK_NONBLOCK"],
  [0o2000000, "SOCK_CLOEXEC"],
];

export const CLONE_FLAGS: FlagTable = [
  [0x100, "CLONE_VM"],
  [0x200, "CLONE_FS"],
  [0x400, "CLONE_FILES"],
  [0x800, "CLONE_SIGHAND"],
  [0x1000, "CLONE_PIDFD"],
  [0x2000, "CLONE_PTRACE"],
  [0x4000, "CLONE_VFORK"],
  [0x8000, "CLONE_PARENT"],
  [0x10000, "CLONE_THREAD"],
  [0x20000, "CLONE_NEWNS"],
  [0x40000, "CLONE_SYSVSEM"],
  [0x80000, "CLONE_SETTLS"],
  [0x100000, "CLONE_PARENT_SETTID"],
  [0x200000, "CLONE_CHILD_CLEARTID"],
  [0x400000, "CLONE_DETACHED"],
  [0x800000, "CLONE_UNTRACED"],
  [0x1000000, "CLONE_CHILD_SETTID"],
  [0x2000000, "CLONE_NEWCGROUP"],
  [0x4000000, "CLONE_NEWUTS"],
  [0x8000000, "CLONE_NEWIPC"],
  [0x10000000, "CLONE_NEWUSER"],
  [0x20000000, "CLONE_NEWPID"],
  [0x40000000, "CLONE_NEWNET"],
  [0x80000000, "CLONE_IO"],
];

export const FD_FLAGS: FlagTable = [[1, "FD_CLOEXEC"]];

export const PRCTL_OPTIONS: Record<number, string> = {
  1: "PR_SET_PDEATHSIG",
  2: "PR_GET_PDEATHSIG",
  3: "PR_GET_DUMPABLE",
  4: "PR_SET_DUMPABLE",
  8: "PR_SET_KEEPCAPS",
  15: "PR_SET_NAME",
  16: "PR_GET_NAME",
  22: "PR_SET_SECCOMP",
  21: "PR_GET_SECCOMP",
  36: "PR_SET_CHILD_SUBREAPER",
  37: "PR_GET_CHILD_SUBREAPER",
  38: "PR_SET_NO_NEW_PRIVS",
  39: "PR_GET_NO_NEW_PRIVS",
  1398164801: "PR_SET_VMA",
};
