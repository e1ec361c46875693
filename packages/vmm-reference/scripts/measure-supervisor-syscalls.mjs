#!/usr/bin/env node
/**
 * Measures the system calls the jailed supervisor makes after its filter goes
 * on, and regenerates policy/supervisor-x86_64.json from them.
 *
 * Method: the CLI (bundled from the sources) runs `run --jail` under
 * `strace -f` with KINDLING_JAIL_MEASURE=1, which installs an allow-all filter
 * with TSYNC at the point where the real one goes: that seccomp(2) call marks
 * the start. Every call after it made by a thread of the jailed Node process
 * (not the program's own host process on seccomp; threads are followed by
 * their host tids, `--decode-pids=pidns`) is counted, with the ioctl
 * requests (raw) it used. The runs cover both platforms over the corpus
 * programs, busybox pipelines and the demo.
 *
 * Usage: node scripts/measure-supervisor-syscalls.mjs [--write] [--json]
 *   --write  rewrite policy/supervisor-x86_64.json (measured calls + the
 *            reviewed additions below, each with its reason)
 * Needs strace (Debian package strace), a C compiler and busybox-static.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleCli } from "./bundle-cli.mjs";
import { NEVER } from "./supervisor-never.mjs";

// seccompiler's syscall table, from its build (bundle-cli builds from sources; the table is generated data).
const seccompiler = await import(new URL("../../seccompiler/dist/index.js", import.meta.url).href);

const pkg = join(dirname(fileURLToPath(import.meta.url)), "..");
const write = process.argv.includes("--write");

const work = mkdtempSync(join(tmpdir(), "kindling-measure-"));
const cli = await bundleCli(join(work, "cli"));
const busybox = ["/bin/busybox", "/usr/bin/busybox"].find((p) => existsSync(p));
const kvm = existsSync("/dev/kvm");

// Programs: the corpus (static, cc), busybox, the demo.
const cc = spawnSync("cc", ["--version"]).status === 0 ? "cc" : null;
const programs = [];
if (cc) {
  mkdirSync(join(work, "bin"));
  for (const f of readdirSync(join(pkg, "corpus")).filter((f) => f.endsWith(".c"))) {
    const exe = join(work, "bin", f.slice(0, -2));
    try {
      execFileSync(cc, ["-static", "-O1", "-o", exe, join(pkg, "corpus", f)], { stdio: "pipe" });
      programs.push([exe]);
    } catch {
      console.warn(`measure: ${f} did not compile; skipped`);
    }
  }
}
// The tree the conformance corpus expects (test/conformance/harness.ts makeTree, in brief).
const tree = join(work, "tree");
const data = join(tree, "data");
mkdirSync(join(data, "sub"), { recursive: true });
mkdirSync(join(tree, "scratch"));
mkdirSync(join(tree, "etc"));
writeFileSync(join(tree, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
writeFileSync(join(data, "hello.txt"), "hello from the host\nsecond line\n");
writeFileSync(join(data, "sub", "n.txt"), "3\n1\n2\n3\n");
writeFileSync(join(data, "empty"), "");
writeFileSync(join(data, "big.bin"), Buffer.alloc(100_000, 7));
symlinkSync("hello.txt", join(data, "link"));
symlinkSync("nowhere", join(data, "dangling"));
const runs = [];
/** run index -> KINDLING_JAIL_PROBE */
const probes = new Map();
for (const platform of kvm ? ["kvm", "seccomp"] : ["seccomp"]) {
  const base = ["run", "--jail", "--platform", platform, "--mount", `${data}:/data:rw`, "--tmpfs", "/tmp"];
  const corpus = ["run", "--jail", "--platform", platform, "--root", tree, "--mount", `${tree}/scratch:/scratch:rw`];
  for (const p of programs) runs.push([...corpus, "--tmpfs", "/tmp", ...p]);
  if (busybox) {
    runs.push([...base, busybox, "sh", "-c", "echo hi; ls -la /data; cat /data/hello.txt | wc -c; echo x > /data/y"]);
    runs.push([...base, "--timeout", "1", busybox, "sleep", "5"]);
    runs.push([...base, "--strace", busybox, "true"]);
    // A thread started after the filter (a library user's next Sandbox.run() worker).
    probes.set(runs.push([...base, busybox, "true"]) - 1, "threads");
  }
  const demo = join(pkg, "build", "demo", "kindling-demo");
  if (existsSync(demo))
    runs.push([...base.slice(0, 4), "--mount", `${join(pkg, "demo", "data")}:/data`, "--tmpfs", "/tmp", demo]);
}

/** name -> { count, platforms:Set } ; ioctl requests per platform */
const calls = { kvm: new Map(), seccomp: new Map() };
const ioctls = { kvm: new Set(), seccomp: new Set() };
for (const [i, argv] of runs.entries()) {
  const platform = argv[3];
  const probe = probes.has(i) ? { KINDLING_JAIL_PROBE: probes.get(i) } : {};
  const out = join(work, "trace.txt");
  const r = spawnSync(
    "strace",
    [
      "-f",
      "-qq",
      "--decode-pids=pidns",
      "-e",
      "trace=all",
      "-e",
      "signal=none",
      "-e",
      "raw=ioctl",
      "-o",
      out,
      process.execPath,
      cli,
      ...argv,
    ],
    {
      env: { ...process.env, KINDLING_JAIL_MEASURE: "1", ...probe },
      stdio: ["ignore", "ignore", "pipe"],
      timeout: 120_000,
    },
  );
  if (r.error) throw r.error;
  const n = collect(readFileSync(out, "utf8"), calls[platform], ioctls[platform]);
  console.error(
    `measure: ${platform} ${argv.slice(-1)[0].slice(0, 60)} (status ${r.status}): ${n} calls after the filter`,
  );
}

/** strace names calls it does not know syscall_0xNNN: name them from seccompiler's table. */
function syscallNameOf(name) {
  const m = /^syscall_0x([0-9a-f]+)$/.exec(name);
  if (!m) return name;
  const named = seccompiler.syscallName(Number.parseInt(m[1], 16), "x86_64");
  if (!named) throw new Error(`strace reported ${name}, which seccompiler's table does not have`);
  return named;
}

/** Counts the jailed supervisor's calls after its marker; returns how many. */
function collect(text, into, ioctlSet) {
  const pending = new Map();
  const group = new Set();
  let marked = false;
  let n = 0;
  for (const raw of text.split("\n")) {
    const m = /^(\d+)\s+(.*)$/.exec(raw);
    if (!m) continue;
    const tid = Number(m[1]);
    let line = m[2];
    if (line.startsWith("+++") || line.startsWith("---")) continue;
    const resumed = /^<\.\.\. (\w+) resumed>(.*)$/.exec(line);
    if (resumed) {
      line = (pending.get(tid) ?? `${resumed[1]}(`) + resumed[2];
      pending.delete(tid);
    } else if (line.endsWith("<unfinished ...>")) {
      pending.set(tid, line.slice(0, -"<unfinished ...>".length));
      continue;
    }
    const call = /^(\w+)\((.*)\)\s+=\s+(-?\d+|\?|0x[0-9a-f]+)/.exec(line);
    if (!call) continue;
    const [, name, args, ret] = call;
    // The jailed CLI: the Node process started with --jailed.
    if (name === "execve" && args.includes('"--jailed"') && ret === "0") {
      group.clear();
      group.add(tid);
      continue;
    }
    if (!group.has(tid)) continue;
    if ((name === "clone" || name === "clone3") && args.includes("CLONE_THREAD")) {
      // The jail has its own pid namespace: the host tid is in strace's annotation.
      const host = /= \d+ \/\* (\d+) in strace's PID NS \*\//.exec(line);
      if (host) group.add(Number(host[1]));
    }
    if (!marked) {
      if (name === "seccomp" && args.includes("SECCOMP_FILTER_FLAG_TSYNC")) marked = true;
      continue;
    }
    n++;
    into.set(syscallNameOf(name), (into.get(syscallNameOf(name)) ?? 0) + 1);
    if (name === "ioctl") {
      const req = args.split(",")[1]?.trim();
      if (req) ioctlSet.add(Number(req));
    }
  }
  return n;
}

/**
 * Reviewed additions: calls the runs above may not reach but the supervisor
 * makes on some path, each with its reason. Nothing here creates processes,
 * changes identity or mounts, or opens sockets.
 */
const REVIEWED = {
  common: {
    write: "error reports, --strace to stderr",
    writev: "stdio of the program",
    exit_group: "exit",
    exit: "a thread ends",
    rt_sigreturn: "return from Node's and the kick signal's handlers",
    rt_sigprocmask: "libuv and V8 block signals around work",
    rt_sigaction: "Node installs handlers lazily",
    sigaltstack: "V8 and the kick handler",
    futex: "V8, libuv and thread joins",
    madvise: "V8's heap, MADV_REMOVE of guest memory",
    mmap: "V8's heap, libos mappings",
    munmap: "V8's heap",
    mprotect: "V8's code space",
    mremap: "realloc of large buffers",
    brk: "malloc",
    sched_yield: "V8 spin waits",
    getpid: "Node, signals to self",
    gettid: "libos task ids, kicks",
    tgkill: "kicks of a thread in KVM_RUN, abort()",
    getrandom: "crypto.getRandomValues (AT_RANDOM of a new program)",
    clock_gettime: "time (vDSO fallback)",
    clock_nanosleep: "sleep in a blocked call",
    nanosleep: "sleep",
    epoll_wait: "libuv",
    epoll_pwait: "libuv",
    epoll_ctl: "libuv, libos host fd watches",
    poll: "host waits with a deadline",
    ppoll: "host waits with a deadline",
    read: "host files the libos serves",
    pread64: "host files, guest file mappings",
    pwrite64: "host files",
    readv: "host files",
    preadv: "host files",
    pwritev: "host files",
    lseek: "host files",
    close: "host fds",
    fstat: "host files",
    newfstatat: "host files (fstatat with AT_EMPTY_PATH)",
    statx: "host files",
    openat: "host files below the sandbox's mounts (only its mounts exist here)",
    openat2: "host files opened with RESOLVE_BENEATH / RESOLVE_NO_SYMLINKS",
    getdents64: "host directories",
    readlinkat: "host symlinks",
    fcntl: "host fds",
    dup: "host fds",
    dup3: "host fds",
    ftruncate: "host files, memfd guest memory",
    fallocate: "host files",
    fsync: "host files",
    fdatasync: "host files",
    mkdirat: "host directories of writable mounts",
    unlinkat: "host files of writable mounts",
    renameat2: "host files of writable mounts",
    symlinkat: "host files of writable mounts",
    linkat: "host files of writable mounts",
    fchmodat: "host files of writable mounts",
    fchmod: "host files of writable mounts",
    fchownat: "host files of writable mounts",
    utimensat: "host files of writable mounts",
    fstatfs: "statfs of host mounts",
    memfd_create: "guest memory",
    eventfd2: "libuv, ioeventfds",
    timer_create: "per-thread CPU timers",
    timer_settime: "per-thread CPU timers",
    timer_delete: "per-thread CPU timers",
    getrusage: "CPU time",
    sysinfo: "os.freemem()",
    uname: "os.release()",
    getcwd: "process.cwd()",
    getuid: "credentials",
    geteuid: "credentials",
    getgid: "credentials",
    getegid: "credentials",
    restart_syscall: "a restarted sleep",
    access: "fs.existsSync",
    faccessat: "access() of host files",
    faccessat2: "access() of host files",
    fchmodat2: "chmod of host files of writable mounts",
    fchown: "host files of writable mounts",
    statfs: "statfs of host mounts",
    sendto: "stdio that is a host socket (MSG_DONTWAIT)",
    recvfrom: "stdio that is a host socket (MSG_DONTWAIT)",
    rmdir: "removing a sandbox's pids cgroup",
    readlink: "host symlinks",
    tkill: "signals to a thread",
  },
  // The program is a host process only on seccomp.
  seccomp: {
    prlimit64: "limits of the program's host process (seccomp)",
    wait4: "the program's host process (seccomp)",
    waitid: "the program's host process (seccomp)",
    kill: "ending the program's host process",
    pidfd_open: "waiting for the program's host process",
    pidfd_send_signal: "ending the program's host process",
    pidfd_getfd: "fds of the program's host process (seccomp)",
    process_vm_readv: "the program's memory (seccomp)",
    process_vm_writev: "the program's memory (seccomp)",
  },
};

function policy() {
  const filter = (platform) => {
    const reviewed = { ...REVIEWED.common, ...(platform === "seccomp" ? REVIEWED.seccomp : {}) };
    const names = new Set([...calls[platform].keys(), ...Object.keys(reviewed)]);
    // Never: calls that start or trace processes, or open sockets.
    for (const n of NEVER) names.delete(n);
    names.delete("clone3");
    names.delete("clone");
    names.delete("ioctl");
    const rules = [...names].sort().map((syscall) => {
      const measured = calls[platform].get(syscall);
      return {
        syscall,
        comment: measured ? `measured (${measured} calls)` : `reviewed: ${reviewed[syscall]}`,
      };
    });
    // Threads only: CLONE_THREAD|CLONE_VM set, no namespace flag, no CLONE_PARENT/VFORK.
    const CLONE_VM = 0x100;
    const CLONE_VFORK = 0x4000;
    const CLONE_PARENT = 0x8000;
    const CLONE_THREAD = 0x10000;
    const NS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x80;
    // clone3's flags are in memory, out of BPF's reach: the "enosys" filter answers ENOSYS. It must
    // be allowed here, or this filter's TRAP would win over that ERRNO (the strictest action wins).
    rules.push({ syscall: "clone3", comment: "answered ENOSYS by the enosys filter (glibc then uses clone)" });
    rules.push({
      syscall: "clone",
      comment: "threads only (glibc's pthread_create once clone3 says ENOSYS)",
      args: [
        {
          index: 0,
          type: "dword",
          op: { masked_eq: CLONE_VM | CLONE_THREAD | CLONE_VFORK | CLONE_PARENT | NS },
          val: CLONE_VM | CLONE_THREAD,
        },
      ],
    });
    // ioctl: every KVM request (type 0xAE: they act only on kvm fds, which are the sandbox's own
    // isolation) and every seccomp user-notification request (type '!'), plus the terminal and
    // fd requests the libos passes through for the program's stdio. Never TIOCSTI (it would type
    // into the operator's terminal).
    for (const [type, what] of [
      [0xae, "KVM_* (type 0xAE)"],
      [0x21, "SECCOMP_IOCTL_NOTIF_* (type '!')"],
    ]) {
      rules.push({
        syscall: "ioctl",
        comment: what,
        args: [{ index: 1, type: "dword", op: { masked_eq: 0xff00 }, val: type << 8 }],
      });
    }
    const measured = [...ioctls[platform]].filter((r) => ((r >>> 8) & 0xff) !== 0xae && ((r >>> 8) & 0xff) !== 0x21);
    for (const r of [...new Set([...measured, ...REVIEWED_IOCTLS])].sort((a, b) => a - b)) {
      if (r === 0x5412) continue; // TIOCSTI
      rules.push({ syscall: "ioctl", comment: ioctlName(r), args: [{ index: 1, type: "dword", op: "eq", val: r }] });
    }
    rules.sort((a, b) => (a.syscall < b.syscall ? -1 : a.syscall > b.syscall ? 1 : 0));
    return { mismatch_action: "trap", match_action: "allow", filter: rules };
  };
  return {
    supervisor_kvm: filter("kvm"),
    supervisor_seccomp: filter("seccomp"),
    enosys: {
      mismatch_action: "allow",
      match_action: { errno: 38 },
      filter: [{ syscall: "clone3", comment: "ENOSYS: glibc then uses clone, whose flags the main filter checks" }],
    },
  };
}

// Terminal and fd ioctls the libos passes through for the program's stdio.
const REVIEWED_IOCTLS = [0x5401, 0x5402, 0x5403, 0x5404, 0x540f, 0x5413, 0x541b, 0x5421, 0x5450, 0x5451];

function ioctlName(r) {
  const known = {
    21505: "TCGETS",
    21506: "TCSETS",
    21507: "TCSETSW",
    21508: "TCSETSF",
    21519: "TIOCGPGRP",
    21523: "TIOCGWINSZ",
    21531: "FIONREAD",
    21537: "FIONBIO",
    21585: "FIOCLEX",
    21584: "FIONCLEX",
  };
  return known[r] ?? `request 0x${r.toString(16)} (measured)`;
}

const result = policy();
if (process.argv.includes("--json")) {
  console.log(
    JSON.stringify({ kvm: Object.fromEntries(calls.kvm), seccomp: Object.fromEntries(calls.seccomp) }, null, 2),
  );
} else {
  for (const p of ["kvm", "seccomp"]) {
    console.log(`${p}: ${calls[p].size} system calls measured: ${[...calls[p].keys()].sort().join(" ")}`);
    console.log(`${p}: ioctl requests: ${[...ioctls[p]].map((r) => `0x${r.toString(16)}`).join(" ")}`);
  }
}
if (write) {
  const file = join(pkg, "policy", "supervisor-x86_64.json");
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.error(`measure: wrote ${file}`);
}
