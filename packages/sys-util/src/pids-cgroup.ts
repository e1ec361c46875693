/**
 * The host side of a jailed spawn's task limit (see `spawn({ jail })`): a pids
 * cgroup per sandbox, made before the child starts and removed once it ended.
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  writeFileSync,
} from "node:fs";
import { threadId } from "node:worker_threads";
import { native } from "./native.js";

const SYS_pidfd_open = 434;
const SYS_pidfd_send_signal = 424;

/** Where pids cgroups can be made: cgroup v1's pids hierarchy, else the v2 root. */
const BASES = ["/sys/fs/cgroup/pids", "/sys/fs/cgroup"];

let parent: string | null | undefined;
let parentWhy = "";
let seq = 0;

function errText(e: unknown): string {
  return (e as { code?: string }).code ?? String(e);
}

/** The directory sandboxes' pids cgroups go in (made once), or null with the reason in `parentWhy`. */
function cgroupParent(): string | null {
  if (parent !== undefined) return parent;
  parent = null;
  for (const base of BASES) {
    if (!existsSync(`${base}/cgroup.procs`)) continue;
    const dir = `${base}/kindling`;
    try {
      mkdirSync(dir, { recursive: true });
      if (!existsSync(`${dir}/pids.max`) && existsSync(`${base}/cgroup.subtree_control`)) {
        // cgroup v2: the pids controller must be enabled down to our directory's children.
        writeFileSync(`${base}/cgroup.subtree_control`, "+pids");
        writeFileSync(`${dir}/cgroup.subtree_control`, "+pids");
      }
      if (existsSync(`${dir}/pids.max`) || existsSync(`${dir}/cgroup.subtree_control`)) {
        parent = dir;
        removeOrphans(dir);
        return parent;
      }
      parentWhy = `${base} has no pids controller`;
    } catch (e) {
      parentWhy = `${dir}: ${errText(e)}`;
    }
  }
  if (!parentWhy) parentWhy = "no pids cgroup hierarchy mounted";
  return parent;
}

/** Removes the cgroups a process that died without ending its sandboxes left (named `<pid>.…`). */
function removeOrphans(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^(\d+)\.\d+\.\d+$/.exec(name);
    if (!m || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
      continue; // its process still runs
    } catch (e) {
      if ((e as { code?: string }).code !== "ESRCH") continue;
    }
    removeCgroup(`${dir}/${name}`);
  }
}

export interface PidsCgroup {
  path: string;
  /** cgroup.procs, open for writing: spawn puts the child there before it runs anything. */
  procsFd: number;
}

/** Makes a pids cgroup with pids.max = `max`; null (and why) where that is not possible. */
export function makePidsCgroup(max: number): { cgroup: PidsCgroup | null; why: string } {
  const dir = cgroupParent();
  if (dir === null) return { cgroup: null, why: parentWhy };
  const path = `${dir}/${process.pid}.${threadId}.${seq++}`;
  try {
    mkdirSync(path);
  } catch (e) {
    return { cgroup: null, why: `${path}: ${errText(e)}` };
  }
  try {
    writeFileSync(`${path}/pids.max`, String(max));
    return { cgroup: { path, procsFd: openSync(`${path}/cgroup.procs`, "w") }, why: "" };
  } catch (e) {
    removeCgroup(path);
    return { cgroup: null, why: `${path}: ${errText(e)}` };
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Kills every process left in the cgroup and removes it. Returns false when it
 * could not be removed.
 */
export function removeCgroup(path: string): boolean {
  const members = (): string[] | null => {
    try {
      return readFileSync(`${path}/cgroup.procs`, "latin1").split("\n").filter(Boolean);
    } catch {
      return null;
    }
  };
  for (let attempt = 0; attempt < 200; attempt++) {
    const procs = members();
    if (procs === null) return !existsSync(path);
    // Not kill(pid): a member that exited since the read (its parent, often the host's init,
    // reaps it at once) may have left its pid to another host process. A pidfd opened before a
    // second read that still lists the pid names that member; a signal through it reaches it
    // or nothing. cgroup v2's cgroup.kill does it all in the kernel where it exists.
    try {
      writeFileSync(`${path}/cgroup.kill`, "1");
    } catch {
      const fds = procs.map((p) => [p, native().syscall(SYS_pidfd_open, Number(p), 0)] as const);
      const still = new Set(members() ?? []);
      for (const [p, fd] of fds) {
        if (fd < 0) continue;
        if (still.has(p)) native().syscall(SYS_pidfd_send_signal, fd, 9, 0, 0);
        closeSync(fd);
      }
    }
    try {
      rmdirSync(path);
      return true;
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === "ENOENT") return true;
      if (code !== "EBUSY") return false;
    }
    Atomics.wait(pause, 0, 0, attempt < 20 ? 1 : 10); // dying tasks leave the cgroup once reaped
  }
  return false;
}

export function closeProcsFd(c: PidsCgroup): void {
  closeSync(c.procsFd);
}
