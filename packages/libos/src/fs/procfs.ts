// /proc: the parts static programs and busybox read. /proc/self is a symlink
// to the pid's directory; /proc/<pid>/fd/N and exe are symlinks whose targets
// are sandbox paths (readlink works; following them resolves in the sandbox).

import { cpus } from "node:os";
import type { SynthNode } from "./synth.js";
import { SynthFs } from "./synth.js";
import type { Loc } from "./vfs.js";

/** What procfs asks the process about. */
export interface ProcessView {
  pid(): number;
  ppid(): number;
  comm(): string;
  exe(): string;
  cwd(): string;
  argv(): readonly string[];
  env(): readonly string[];
  /** Open fds and the sandbox path (or "pipe:[N]") of each. */
  fds(): Array<[number, string]>;
  /** Where /proc/self/fd/N, cwd and root lead when followed (magic links). */
  fdLoc(fd: number): Loc | null;
  cwdLoc(): Loc | null;
  rootLoc(): Loc | null;
  /** /proc/self/maps text. */
  maps(): string;
  /** The sandbox's memory limit in bytes (MemTotal), bytes in use, and bytes the libos holds for it (Shmem). */
  memory(): { total: number; used: number; shared?: number };
  cpus(): number;
  uptimeSeconds(): number;
  mounts(): string;
  uid(): number;
  gid(): number;
}

function nulJoin(list: readonly string[]): Uint8Array {
  return Buffer.from(list.map((s) => `${s}\0`).join(""), "utf8");
}

/** /proc/meminfo for a sandbox of `total` bytes with `used` in use, `shared` of them the libos's (tmpfs, pipes). */
export function meminfo(total: number, used: number, shared = 0): string {
  const kb = (n: number) => `${String(Math.floor(n / 1024)).padStart(8)} kB`;
  const free = Math.max(0, total - used);
  const lines: Array<[string, number]> = [
    ["MemTotal", total],
    ["MemFree", free],
    ["MemAvailable", free],
    ["Buffers", 0],
    ["Cached", 0],
    ["SwapCached", 0],
    ["Active", used],
    ["Inactive", 0],
    ["SwapTotal", 0],
    ["SwapFree", 0],
    ["Dirty", 0],
    ["Shmem", Math.min(shared, used)],
  ];
  return lines.map(([k, v]) => `${`${k}:`.padEnd(16)}${kb(v)}\n`).join("");
}

export function cpuinfo(n: number): string {
  const host = cpus()[0];
  const model = host?.model ?? "Kindling virtual CPU";
  const mhz = (host?.speed ?? 2000).toFixed(3);
  let out = "";
  for (let i = 0; i < n; i++) {
    out +=
      `processor\t: ${i}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\n` +
      `model name\t: ${model}\nstepping\t: 7\ncpu MHz\t\t: ${mhz}\ncache size\t: 16384 KB\n` +
      `physical id\t: 0\nsiblings\t: ${n}\ncore id\t\t: ${i}\ncpu cores\t: ${n}\napicid\t\t: ${i}\n` +
      "fpu\t\t: yes\nfpu_exception\t: yes\ncpuid level\t: 13\nwp\t\t: yes\n" +
      "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx lm constant_tsc rep_good nopl cpuid pni ssse3 cx16 sse4_1 sse4_2 popcnt aes xsave avx hypervisor lahf_lm\n" +
      "bogomips\t: 4000.00\nclflush size\t: 64\ncache_alignment\t: 64\naddress sizes\t: 46 bits physical, 48 bits virtual\npower management:\n\n";
  }
  return out;
}

export function createProcfs(p: ProcessView): SynthFs {
  const pidDir = (): Map<string, SynthNode> =>
    new Map<string, SynthNode>([
      ["exe", { kind: "link", target: () => p.exe() }],
      ["cwd", { kind: "link", target: () => p.cwd(), magic: () => p.cwdLoc() }],
      ["root", { kind: "link", target: () => "/", magic: () => p.rootLoc() }],
      [
        "fd",
        {
          kind: "dir",
          mode: 0o500,
          children: () =>
            new Map(
              p.fds().map(([fd, path]) => [String(fd), { kind: "link", target: () => path, magic: () => p.fdLoc(fd) }]),
            ),
        },
      ],
      ["maps", { kind: "file", content: () => p.maps() }],
      ["cmdline", { kind: "file", content: () => nulJoin(p.argv()) }],
      ["environ", { kind: "file", content: () => nulJoin(p.env()), mode: 0o400 }],
      ["comm", { kind: "file", content: () => `${p.comm()}\n` }],
      ["mounts", { kind: "file", content: () => p.mounts() }],
      [
        "stat",
        {
          kind: "file",
          content: () => {
            const pid = p.pid();
            // pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
            // utime stime cutime cstime priority nice num_threads itrealvalue starttime vsize rss ...
            const fields = [
              pid,
              `(${p.comm()})`,
              "R",
              p.ppid(),
              pid,
              pid,
              0,
              -1,
              4194304,
              0,
              0,
              0,
              0,
              0,
              0,
              0,
              0,
              20,
              0,
              1,
              0,
              0,
              p.memory().used,
              Math.ceil(p.memory().used / 4096),
              "18446744073709551615",
            ];
            return `${fields.join(" ")} 0 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n`;
          },
        },
      ],
      [
        "status",
        {
          kind: "file",
          content: () =>
            `Name:\t${p.comm()}\nUmask:\t0022\nState:\tR (running)\nTgid:\t${p.pid()}\nNgid:\t0\nPid:\t${p.pid()}\n` +
            `PPid:\t${p.ppid()}\nTracerPid:\t0\nUid:\t${p.uid()}\t${p.uid()}\t${p.uid()}\t${p.uid()}\n` +
            `Gid:\t${p.gid()}\t${p.gid()}\t${p.gid()}\t${p.gid()}\nFDSize:\t64\nThreads:\t1\n` +
            `VmRSS:\t${Math.floor(p.memory().used / 1024)} kB\n`,
        },
      ],
    ]);
  const root = (): Map<string, SynthNode> => {
    const pid = String(p.pid());
    return new Map<string, SynthNode>([
      ["self", { kind: "link", target: () => pid }],
      ["thread-self", { kind: "link", target: () => `${pid}/task/${pid}` }],
      [
        pid,
        {
          kind: "dir",
          children: () => {
            const m = pidDir();
            m.set("task", { kind: "dir", children: () => new Map([[pid, { kind: "dir", children: pidDir }]]) });
            return m;
          },
        },
      ],
      [
        "meminfo",
        {
          kind: "file",
          content: () => {
            const m = p.memory();
            return meminfo(m.total, m.used, m.shared ?? 0);
          },
        },
      ],
      ["cpuinfo", { kind: "file", content: () => cpuinfo(p.cpus()) }],
      ["mounts", { kind: "link", target: () => "self/mounts" }],
      ["version", { kind: "file", content: () => "Linux version 6.1.0-kindling (kindling) #1 SMP PREEMPT_DYNAMIC\n" }],
      [
        "uptime",
        {
          kind: "file",
          content: () => {
            const u = p.uptimeSeconds();
            return `${u.toFixed(2)} ${u.toFixed(2)}\n`;
          },
        },
      ],
      ["loadavg", { kind: "file", content: () => `0.00 0.00 0.00 1/1 ${pid}\n` }],
      ["filesystems", { kind: "file", content: () => "nodev\ttmpfs\nnodev\tproc\nnodev\tdevtmpfs\n" }],
    ]);
  };
  return new SynthFs("proc", root);
}

/**
 * A host process's /proc/<pid>/maps (the seccomp platform) as the sandbox may
 * see it: the program's host path becomes its sandbox name, a file under a
 * host-directory mount its path in the sandbox, the kernel's bracketed names
 * stay, and every other name (a host file, a memfd) is dropped; no line shows
 * the host's device or inode numbers, so no host path or host inode shows.
 */
export function sandboxMaps(
  text: string,
  names: { hostExe?: string; exe: string; mounts: ReadonlyArray<{ host: string; path: string }> },
): string {
  const rename = (name: string): string | null => {
    if (name.startsWith("[")) return name;
    const deleted = name.endsWith(" (deleted)");
    const path = deleted ? name.slice(0, -" (deleted)".length) : name;
    const tail = deleted ? " (deleted)" : "";
    if (names.hostExe !== undefined && path === names.hostExe) return names.exe + tail;
    for (const m of names.mounts) {
      if (path === m.host) return m.path + tail;
      if (path.startsWith(`${m.host}/`)) return (m.path === "/" ? "" : m.path) + path.slice(m.host.length) + tail;
    }
    return null;
  };
  let out = "";
  for (const line of text.split("\n")) {
    if (line === "") continue;
    // start-end perms offset dev inode [padding name]
    const m = /^(\S+ \S+ \S+) \S+ \S+(?: +(.*))?$/.exec(line);
    if (!m) continue;
    const name = m[2] ? rename(m[2]) : null;
    // The host's device and inode numbers are not the sandbox's (as on kvm, none are shown).
    const head = `${m[1]} 00:00 0`;
    out += name ? `${head.padEnd(73)}${name}\n` : `${head} \n`;
  }
  return out;
}
