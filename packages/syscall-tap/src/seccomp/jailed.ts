/**
 * The seccomp platform's view of a jailed child (sys-util's `spawn({ jail })`):
 * the program runs as pid 2 of its own pid namespace under an init of its
 * own. Notifications name host thread ids; the program knows itself by its
 * namespace's ids. And a sandbox ends with its init: killing init kills every
 * process of the namespace.
 */
import { closeSync, readFileSync, readSync } from "node:fs";
import { endJail, type SpawnedProcess, waitpid } from "@kindling/sys-util";

/** A thread's ids in its innermost pid namespace, from /proc/<hostTid>/status (NSpid, NStgid). */
export function namespaceIds(hostTid: number): { tid: number; tgid: number } {
  let text: string;
  try {
    text = readFileSync(`/proc/${hostTid}/status`, "latin1");
  } catch {
    return { tid: hostTid, tgid: hostTid }; // gone: nothing will ask again
  }
  const last = (name: string): number | undefined => {
    const m = new RegExp(`\\n${name}:\\t([\\d\\t]+)`).exec(text);
    if (!m) return undefined;
    const f = m[1]!.trim().split("\t");
    return Number(f[f.length - 1]);
  };
  // Kernels before 4.1 have no NSpid: there the host ids are the only ids.
  const tgid = last("NStgid") ?? last("Tgid") ?? hostTid;
  return { tid: last("NSpid") ?? hostTid, tgid };
}

const SIGKILL = 9;

function decode(status: number): { exitCode: number | null; signal: number | null } {
  const sig = status & 0x7f;
  if (sig === 0) return { exitCode: (status >> 8) & 0xff, signal: null };
  return { exitCode: null, signal: sig === 0x7f ? null : sig };
}

/**
 * Waits for a jailed sandbox to end: the program's wait status as init
 * reported it (a SIGKILL when init itself was killed first), then init reaped
 * (the kernel has then killed and reaped everything else in the namespace),
 * then its pids cgroup removed.
 */
export function reapJailed(child: SpawnedProcess): { status: number; exitCode: number | null; signal: number | null } {
  const buf = Buffer.alloc(4);
  let n = 0;
  try {
    n = readSync(child.statusFd!, buf, 0, 4, null);
  } catch {
    n = 0;
  }
  closeSync(child.statusFd!);
  waitpid(child.initPid!, 0);
  endJail(child);
  const status = n === 4 ? buf.readInt32LE(0) : SIGKILL;
  return { status, ...decode(status) };
}
