/**
 * Installing compiled programs through @kindling/sys-util. A filter cannot be
 * removed once installed: applyFilter* restrict the calling process for good.
 */
import {
  SECCOMP_FILTER_FLAG_TSYNC,
  type SpawnedProcess,
  type SpawnOptions,
  SysError,
  seccompInstall,
  spawn,
} from "@kindling/sys-util";
import { SeccompInstallError } from "./errors.js";
import { BpfProgram } from "./interpreter.js";

function checked(program: Uint8Array): Uint8Array {
  // The kernel would say EINVAL; this says why.
  new BpfProgram(program);
  return program;
}

function install(program: Uint8Array, flags: number): number {
  try {
    return seccompInstall(checked(program), flags);
  } catch (e) {
    if (e instanceof SysError) {
      throw new SeccompInstallError("INSTALL_FAILED", `seccomp(SECCOMP_SET_MODE_FILTER) failed: ${e.message}`, e.errno);
    }
    throw e;
  }
}

/**
 * Installs `program` on the calling thread (PR_SET_NO_NEW_PRIVS first). Threads
 * created later inherit it; existing threads do not get it.
 */
export function applyFilter(program: Uint8Array, flags = 0): void {
  install(program, flags & ~SECCOMP_FILTER_FLAG_TSYNC);
}

/**
 * Installs `program` on every thread of the process (SECCOMP_FILTER_FLAG_TSYNC).
 * When a thread cannot be synchronized the kernel installs nothing and this
 * throws a TSYNC_FAILED error carrying that thread's id.
 */
export function applyFilterAllThreads(program: Uint8Array, flags = 0): void {
  const r = install(program, flags | SECCOMP_FILTER_FLAG_TSYNC);
  if (r > 0) {
    throw new SeccompInstallError("TSYNC_FAILED", `thread ${r} could not be synchronized; no filter installed`, 0, r);
  }
}

export interface SpawnFilteredOptions extends Omit<SpawnOptions, "seccomp"> {
  /** The compiled program, installed in the child just before execve. */
  program: Uint8Array;
}

/**
 * fork + execve with `program` installed in the child before exec (after
 * PR_SET_NO_NEW_PRIVS). With SECCOMP_FILTER_FLAG_NEW_LISTENER in `seccompFlags`
 * the result's `listenerFd` is the user-notification fd. Wait for it with
 * sys-util's `waitpid`.
 */
export function spawnWithFilter(options: SpawnFilteredOptions): SpawnedProcess {
  const { program, ...rest } = options;
  try {
    return spawn({ ...rest, seccomp: checked(program) });
  } catch (e) {
    if (e instanceof SysError && /seccomp/.test(e.message)) {
      throw new SeccompInstallError("INSTALL_FAILED", `the child could not install its filter: ${e.message}`, e.errno);
    }
    throw e;
  }
}
