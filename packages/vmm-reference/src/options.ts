/**
 * Checks a whole SandboxOptions object up front: every field's type and
 * range, and the host paths it names (they exist, are directories, and have
 * no symbolic link in any component). Each problem is a SandboxError with a
 * `code` and a message meant for the person who wrote the option.
 */
import { fstatSync, realpathSync, statSync } from "node:fs";
import { posix, resolve } from "node:path";
import { vfs } from "@kindling/libos";
import { SandboxError, type SandboxOptions } from "./sandbox.js";

/** The smallest and largest --memory (the kvm platform maps one region of at most 4 GiB). */
export const MIN_MEMORY = 16 * 1024 * 1024;
export const MAX_KVM_MEMORY = 4 * 1024 ** 3;
/** The seccomp platform's address-space limit: at most 1 TiB. */
export const MAX_SECCOMP_MEMORY = 1024 ** 4;
/** The longest --timeout / --cpu-limit accepted (a year; longer means a typo). */
export const MAX_SECONDS = 365 * 24 * 3600;
/** The largest --pids (the host's default pid_max). */
export const MAX_PIDS = 32768;

function bad(code: string, message: string): never {
  throw new SandboxError(code, message, 125);
}

export function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}...` : v);
  if (typeof v === "number" || typeof v === "boolean" || v === null || v === undefined) return String(v);
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "function") return "a function";
  if (Array.isArray(v)) return "an array";
  return `a ${typeof v}`;
}

/** Bytes as the CLI writes them (4G, 512M, 1234567). */
export function size(n: number): string {
  for (const [unit, m] of [
    ["T", 1024 ** 4],
    ["G", 1024 ** 3],
    ["M", 1024 ** 2],
    ["K", 1024],
  ] as const) {
    if (n >= m && n % m === 0) return `${n / m}${unit}`;
  }
  return String(n);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A path string: non-empty, no NUL, at most PATH_MAX. */
function pathString(v: unknown, what: string): string {
  if (typeof v !== "string" || v === "") bad("EINVAL", `${what} must be a non-empty path string, not ${describe(v)}`);
  if (v.includes("\0")) bad("EINVAL", `${what} ${describe(v)} contains a NUL byte`);
  if (Buffer.byteLength(v) >= 4096) bad("ENAMETOOLONG", `${what} is longer than 4095 bytes`);
  return v;
}

/** An absolute path inside the sandbox, normalized; ".." is refused (it would hide where the mount lands). */
export function sandboxPath(v: unknown, what: string): string {
  const p = pathString(v, what);
  if (!p.startsWith("/")) bad("EINVAL", `${what} ${describe(p)} must be an absolute path inside the sandbox`);
  if (p.split("/").includes("..")) bad("EINVAL", `${what} ${describe(p)} must not contain ".."`);
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith("/") ? n.slice(0, -1) : n;
}

/**
 * A host directory an operator names: resolved against the current directory,
 * then checked to exist, be a directory and have no symbolic link in any
 * component (the open itself refuses them too; this names the problem early).
 */
export function hostDirectory(v: unknown, what: string): string {
  const p = resolve(pathString(v, what));
  const link = vfs.symlinkComponent(p);
  if (link) {
    bad(
      "ELOOP",
      `${what} ${p}: ${link.at} is a symbolic link (to ${link.target}); give the real path` +
        " (kindling opens host paths without following symbolic links, which a sandbox could have planted)",
    );
  }
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "ENOENT";
    bad(code, `${what} ${p}: ${code === "ENOENT" ? "no such directory" : `cannot be opened (${code})`}`);
  }
  if (!st.isDirectory()) bad("ENOTDIR", `${what} ${p} is not a directory`);
  return p;
}

function boolean(o: Record<string, unknown>, key: string): void {
  if (o[key] !== undefined && typeof o[key] !== "boolean")
    bad("EINVAL", `${key} must be true or false, not ${describe(o[key])}`);
}

function callback(o: Record<string, unknown>, key: string): void {
  if (o[key] !== undefined && typeof o[key] !== "function")
    bad("EINVAL", `${key} must be a function, not ${describe(o[key])}`);
}

function seconds(o: Record<string, unknown>, key: string, flag: string): void {
  const v = o[key];
  if (v === undefined) return;
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
    bad("EINVAL", `${flag} must be a positive number of seconds, not ${describe(v)}`);
  }
  if (v > MAX_SECONDS) bad("EINVAL", `${flag} ${v} is more than a year (${MAX_SECONDS} seconds)`);
}

function stdio(v: unknown): void {
  if (v === undefined || v === "inherit" || v === "pipe") return;
  if (!Array.isArray(v) || v.length !== 3) {
    bad("EINVAL", `stdio must be "inherit", "pipe" or three endpoints, not ${describe(v)}`);
  }
  for (let i = 0; i < v.length; i++) {
    const ep: unknown = v[i];
    if (ep === "null") continue;
    if (typeof ep === "number") {
      if (!Number.isSafeInteger(ep) || ep < 0 || ep > 0x7fffffff)
        bad("EBADF", `stdio[${i}]: ${describe(ep)} is not a file descriptor`);
      try {
        fstatSync(ep);
      } catch {
        bad("EBADF", `stdio[${i}]: file descriptor ${ep} is not open`);
      }
      continue;
    }
    if (isObject(ep)) {
      const e = ep as { on?: unknown; read?: unknown; write?: unknown; isTTY?: unknown };
      if (typeof e.on === "function") continue; // a Node.js stream
      for (const k of ["read", "write"] as const) {
        if (e[k] !== undefined && typeof e[k] !== "function") bad("EINVAL", `stdio[${i}].${k} must be a function`);
      }
      if (e.read !== undefined || e.write !== undefined) continue;
    }
    bad("EINVAL", `stdio[${i}] must be a host fd, "null", a stream or { read, write } hooks, not ${describe(ep)}`);
  }
}

type Check = (o: Record<string, unknown>, platform: "kvm" | "seccomp") => void;

/** One check per option; an option not listed here is refused (a misspelt limit must not pass silently). */
export const OPTION_CHECKS: Record<keyof SandboxOptions, Check> = {
  root: (o) => {
    if (o.root !== undefined) hostDirectory(o.root, "root");
  },
  rootWritable: (o) => boolean(o, "rootWritable"),
  mounts: (o) => {
    const v = o.mounts;
    if (v === undefined) return;
    if (!Array.isArray(v)) bad("EINVAL", `mounts must be an array of { host, path, writable? }, not ${describe(v)}`);
    for (let i = 0; i < v.length; i++) {
      const m: unknown = v[i];
      if (!isObject(m)) bad("EINVAL", `mounts[${i}] must be { host, path, writable? }, not ${describe(m)}`);
      for (const k of Object.keys(m)) {
        if (k !== "host" && k !== "path" && k !== "writable")
          bad("EINVAL", `mounts[${i}]: unknown field ${describe(k)}`);
      }
      if (m.writable !== undefined && typeof m.writable !== "boolean") {
        bad("EINVAL", `mounts[${i}].writable must be true or false, not ${describe(m.writable)}`);
      }
      const path = sandboxPath(m.path, "mount point");
      if (path === "/") bad("EINVAL", `mounts[${i}]: a mount at / replaces the root; use the root option (--root)`);
      hostDirectory(m.host, "mount source");
    }
  },
  tmpfs: (o) => {
    const v = o.tmpfs;
    if (v === undefined) return;
    if (!Array.isArray(v)) bad("EINVAL", `tmpfs must be an array of absolute paths, not ${describe(v)}`);
    for (let i = 0; i < v.length; i++) {
      const p: unknown = v[i];
      if (sandboxPath(p, `tmpfs[${i}]`) === "/") bad("EINVAL", "a tmpfs at / is the default root: leave root unset");
    }
  },
  env: (o) => {
    const v = o.env;
    if (v === undefined) return;
    if (!Array.isArray(v)) bad("EINVAL", `env must be an array of "KEY=VALUE" strings, not ${describe(v)}`);
    for (let i = 0; i < v.length; i++) {
      const kv: unknown = v[i];
      if (typeof kv !== "string" || kv.indexOf("=") <= 0) {
        bad("EINVAL", `env[${i}] ${describe(kv)} is not KEY=VALUE`);
      }
      if (kv.includes("\0")) bad("EINVAL", `env[${i}] contains a NUL byte`);
    }
  },
  cwd: (o) => {
    if (o.cwd !== undefined) sandboxPath(o.cwd, "cwd");
  },
  memory: (o, platform) => {
    const m = o.memory;
    if (m === undefined) return;
    if (typeof m !== "number" || !Number.isSafeInteger(m))
      bad("EINVAL", `memory must be a whole number of bytes, not ${describe(m)}`);
    if (m < MIN_MEMORY) bad("EINVAL", `memory ${size(m)}: at least 16M is needed`);
    const max = platform === "kvm" ? MAX_KVM_MEMORY : MAX_SECCOMP_MEMORY;
    if (m > max) bad("EINVAL", `memory ${size(m)}: the ${platform} platform gives a program at most ${size(max)}`);
    if (platform === "kvm" && m % (2 * 1024 * 1024) !== 0) {
      bad("EINVAL", `memory ${m}: the kvm platform needs a multiple of 2 MiB (2097152 bytes)`);
    }
  },
  timeout: (o) => seconds(o, "timeout", "timeout"),
  cpuLimit: (o) => seconds(o, "cpuLimit", "cpuLimit"),
  pids: (o) => {
    const v = o.pids;
    if (v === undefined) return;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1 || v > MAX_PIDS) {
      bad("EINVAL", `pids must be a whole number from 1 to ${MAX_PIDS}, not ${describe(v)}`);
    }
  },
  platform: (o) => {
    if (o.platform !== undefined && o.platform !== "kvm" && o.platform !== "seccomp") {
      bad("EINVAL", `platform must be "kvm" or "seccomp", not ${describe(o.platform)}`);
    }
  },
  strace: (o) => callback(o, "strace"),
  stats: (o) => boolean(o, "stats"),
  jail: (o) => boolean(o, "jail"),
  stdio: (o) => stdio(o.stdio),
  onUnsupported: (o) => callback(o, "onUnsupported"),
};

/** Throws a SandboxError for the first bad option. */
export function checkOptions(options: unknown, platform: "kvm" | "seccomp"): asserts options is SandboxOptions {
  if (!isObject(options)) bad("EINVAL", `the sandbox options must be an object, not ${describe(options)}`);
  for (const k of Object.keys(options)) {
    if (!Object.hasOwn(OPTION_CHECKS, k)) bad("EINVAL", `unknown sandbox option ${describe(k)}`);
  }
  for (const check of Object.values(OPTION_CHECKS)) check(options, platform);
  const seen = new Set<string>();
  const points = [
    ...((options.mounts as Array<{ path: string }> | undefined) ?? []).map((m) => m.path),
    ...((options.tmpfs as string[] | undefined) ?? []),
  ];
  for (const p of points) {
    const n = sandboxPath(p, "mount point");
    if (seen.has(n)) bad("EINVAL", `two mounts at ${n}`);
    seen.add(n);
  }
}

/** The realpath of a host path, or null when it cannot be resolved. */
export function realPath(p: string): string | null {
  try {
    return realpathSync(p);
  } catch {
    return null;
  }
}
