// Facts from <linux/seccomp.h>, <linux/filter.h> and <linux/audit.h> (x86-64).
import { iow, iowr } from "@kindling/sys-util";

// The filter return values are seccompiler's.
export {
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_KILL_THREAD,
  SECCOMP_RET_LOG,
  SECCOMP_RET_TRACE,
  SECCOMP_RET_TRAP,
  SECCOMP_RET_USER_NOTIF,
} from "@kindling/seccompiler";

export const AUDIT_ARCH_X86_64 = 0xc000003e;

/** struct seccomp_data: nr i32 @0, arch u32 @4, instruction_pointer u64 @8, args u64[6] @16. */
export const SECCOMP_DATA_NR = 0;
export const SECCOMP_DATA_ARCH = 4;
export const SECCOMP_DATA_IP = 8;
export const SECCOMP_DATA_ARGS = 16;

/** struct seccomp_notif: id u64 @0, pid u32 @8, flags u32 @12, data (seccomp_data) @16; 80 bytes. */
export const SECCOMP_NOTIF_SIZE = 80;
export const NOTIF_ID = 0;
export const NOTIF_PID = 8;
export const NOTIF_DATA = 16;

/** struct seccomp_notif_resp: id u64 @0, val i64 @8, error i32 @16, flags u32 @20; 24 bytes. */
export const SECCOMP_NOTIF_RESP_SIZE = 24;
export const SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1;

/** struct seccomp_notif_addfd: id u64 @0, flags u32 @8, srcfd u32 @12, newfd u32 @16, newfd_flags u32 @20; 24 bytes. */
export const SECCOMP_NOTIF_ADDFD_SIZE = 24;
export const SECCOMP_ADDFD_FLAG_SETFD = 1;
export const SECCOMP_ADDFD_FLAG_SEND = 2;

/** SECCOMP_IOC_MAGIC is '!'. */
const SECCOMP_IOC_MAGIC = 0x21;
export const SECCOMP_IOCTL_NOTIF_RECV = iowr(SECCOMP_IOC_MAGIC, 0, SECCOMP_NOTIF_SIZE);
export const SECCOMP_IOCTL_NOTIF_SEND = iowr(SECCOMP_IOC_MAGIC, 1, SECCOMP_NOTIF_RESP_SIZE);
export const SECCOMP_IOCTL_NOTIF_ID_VALID = iow(SECCOMP_IOC_MAGIC, 2, 8);
export const SECCOMP_IOCTL_NOTIF_ADDFD = iow(SECCOMP_IOC_MAGIC, 3, SECCOMP_NOTIF_ADDFD_SIZE);
/** Linux 6.6+: SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP makes the wake-up of the waiting side synchronous. */
export const SECCOMP_IOCTL_NOTIF_SET_FLAGS = iow(SECCOMP_IOC_MAGIC, 4, 8);
export const SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP = 1;

// Classic BPF opcodes (<linux/bpf_common.h>).
export const BPF_LD_W_ABS = 0x20; // BPF_LD | BPF_W | BPF_ABS
export const BPF_JMP_JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
export const BPF_JMP_JGT_K = 0x25;
export const BPF_JMP_JGE_K = 0x35;
export const BPF_JMP_JSET_K = 0x45;
export const BPF_JMP_JA = 0x05;
export const BPF_RET_K = 0x06;

// x86-64 system call numbers used by the platform itself.
export const SYS_poll = 7;
export const SYS_exit = 60;
export const SYS_kill = 62;
export const SYS_pidfd_send_signal = 424;
export const SYS_process_vm_readv = 310;
export const SYS_process_vm_writev = 311;

export const EINTR = 4;
export const ENOENT = 2;
export const ESRCH = 3;
export const EFAULT = 14;
export const EAGAIN = 11;
export const ENOSYS = 38;
export const O_CLOEXEC = 0o2000000;
export const MAP_ANONYMOUS = 0x20;
export const MAP_HUGETLB = 0x40000;
