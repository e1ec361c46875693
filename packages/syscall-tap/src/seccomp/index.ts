export {
  AUDIT_ARCH_X86_64,
  SECCOMP_ADDFD_FLAG_SEND,
  SECCOMP_ADDFD_FLAG_SETFD,
  SECCOMP_IOCTL_NOTIF_ADDFD,
  SECCOMP_IOCTL_NOTIF_ID_VALID,
  SECCOMP_IOCTL_NOTIF_RECV,
  SECCOMP_IOCTL_NOTIF_SEND,
  SECCOMP_IOCTL_NOTIF_SET_FLAGS,
  SECCOMP_NOTIF_ADDFD_SIZE,
  SECCOMP_NOTIF_RESP_SIZE,
  SECCOMP_NOTIF_SIZE,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_USER_NOTIF,
  SECCOMP_USER_NOTIF_FLAG_CONTINUE,
} from "./abi.js";
export { FilterError, type IpRange, type UserNotifFilterOptions, userNotifFilter } from "./bpf.js";
export { ProcessMemory } from "./memory.js";
export {
  DEFAULT_NATIVE_SYSCALLS,
  type SeccompExit,
  SeccompPlatform,
  SeccompPlatformError,
  SeccompProcess,
  type SeccompSpawnOptions,
  SeccompSyscallEvent,
  SeccompTask,
  SPAWN_GATE_SYSCALLS,
  seccompPlatformFilter,
  spawnGateRanges,
} from "./platform.js";
