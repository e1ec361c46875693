/**
 * `kindling run --jail`: the supervisor runs in new namespaces with only the
 * paths it needs, under the seccomp filter of policy/supervisor-x86_64.json.
 * The CLI is bundled from the sources and started as its own process (the
 * jail starts a copy of it); each run is compared with the same run without
 * --jail.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  AUDIT_ARCH_X86_64,
  BpfProgram,
  compileJson,
  parseFilters,
  syscallNumber,
  syscallTable,
} from "@kindling/seccompiler";
import { kvmAvailable } from "@kindling/vmm-reference";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error: a plain .mjs script without types
import { bundleCli } from "../scripts/bundle-cli.mjs";
// @ts-expect-error: a plain .mjs script without types
import { NEVER } from "../scripts/supervisor-never.mjs";
import { build, busybox, compilers, corpusPrograms, makeTree } from "./conformance/harness.js";
import { ccMissing, compile, scratchDir } from "./programs.js";

const pkg = fileURLToPath(new URL("..", import.meta.url));
const policyPath = join(pkg, "policy", "supervisor-x86_64.json");
const policyText = readFileSync(policyPath, "utf8");
const FILTERS = ["supervisor_kvm", "supervisor_seccomp"] as const;

describe("the supervisor policy", () => {
  it("compiles with seccompiler, one filter per platform and the clone3 ENOSYS filter", () => {
    const filters = compileJson(policyText, { arch: "x86_64" });
    expect([...filters.keys()].sort()).toEqual(["enosys", "supervisor_kvm", "supervisor_seccomp"]);
    for (const f of filters.values()) expect(f.program.byteLength).toBeGreaterThan(0);
  });

  it("names only system calls of seccompiler's x86_64 table (property)", () => {
    const json = JSON.parse(policyText) as Record<string, { filter: Array<{ syscall: string }> }>;
    const rules = Object.values(json).flatMap((f) => f.filter);
    const known = new Set(syscallTable("x86_64").map(([name]) => name));
    fc.assert(
      fc.property(fc.constantFrom(...rules), (rule) => {
        expect(known.has(rule.syscall)).toBe(true);
        expect(syscallNumber(rule.syscall, "x86_64")).toBeTypeOf("number");
      }),
    );
  });

  it("traps every call outside the policy and allows the ones in it (property, BPF interpreter)", () => {
    for (const name of FILTERS) {
      const filter = parseFilters(policyText, "x86_64").get(name)!;
      const program = new BpfProgram(compileJson(policyText).get(name)!.program);
      const table = syscallTable("x86_64");
      fc.assert(
        fc.property(
          fc.constantFrom(...table),
          fc.array(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { minLength: 6, maxLength: 6 }),
          ([, nr], args) => {
            const bpf = program.run({ nr, arch: AUDIT_ARCH_X86_64, args });
            // The compiled program decides as the parsed filter does.
            expect(bpf.action).toEqual(filter.evaluate({ nr, args }).action);
            expect(bpf.action === "allow" || bpf.action === "trap").toBe(true);
          },
        ),
      );
    }
  });

  it("forbids what a jailed supervisor must never do, on both platforms", () => {
    const enosysProgram = new BpfProgram(compileJson(policyText).get("enosys")!.program);
    for (const name of FILTERS) {
      const program = new BpfProgram(compileJson(policyText).get(name)!.program);
      // Both filters are installed: the kernel takes the strictest action (trap before errno before allow).
      const decide = (call: string, args: bigint[] = []) => {
        const data = { nr: syscallNumber(call, "x86_64")!, arch: AUDIT_ARCH_X86_64, args };
        const a = program.run(data).action;
        const b = enosysProgram.run(data).action;
        return a === "trap" || b === "trap" ? "trap" : a === "allow" ? b : a;
      };
      // clone3: ENOSYS (so glibc falls back to clone), not a trap that would beat it.
      expect(decide("clone3")).toEqual({ errno: 38 });
      for (const call of [
        ...(NEVER as string[]),
        "mount",
        "umount2",
        "pivot_root",
        "unshare",
        "setns",
        "setuid",
        "setresuid",
        "capset",
        "init_module",
        "kexec_load",
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "io_uring_setup",
        "keyctl",
        "chroot",
      ]) {
        expect([name, call, decide(call)]).toEqual([name, call, "trap"]);
      }
      // clone only for threads: a fork or a new namespace traps.
      const thread = BigInt(0x3d0f00); // glibc's pthread_create flags
      expect(decide("clone", [thread])).toBe("allow");
      expect(decide("clone", [0x11n /* SIGCHLD */])).toBe("trap");
      expect(decide("clone", [thread | 0x10000000n /* CLONE_NEWUSER */])).toBe("trap");
      expect(decide("clone", [0x4111n /* vfork */])).toBe("trap");
      // ioctl: KVM and seccomp-notification requests, never TIOCSTI.
      expect(decide("ioctl", [3n, 0xae80n /* KVM_RUN */])).toBe("allow");
      expect(decide("ioctl", [3n, 0x5412n /* TIOCSTI */])).toBe("trap");
    }
    const enosys = new BpfProgram(compileJson(policyText).get("enosys")!.program);
    expect(enosys.run({ nr: syscallNumber("clone3", "x86_64")!, arch: AUDIT_ARCH_X86_64 }).action).toEqual({
      errno: 38,
    });
  });
});

describe("--jail from the library's sources", () => {
  it("refuses with a clear message instead of starting the test runner's script in a jail", async () => {
    const { main } = await import("../src/cli.js");
    const errs: string[] = [];
    const io = { out: { write: () => true }, err: { write: (s: string) => errs.push(s) > 0 } };
    const status = await main(["run", "--jail", "/bin/true"], io as never);
    expect(status).toBe(125);
    expect(errs.join("")).toContain("--jail: cannot find the kindling script");
  });
});

const skip = ccMissing ?? (busybox ? null : "busybox-static is not installed");
if (skip) console.warn(`skipping jail runs: ${skip}`);
const cgroupV1 = existsSync("/sys/fs/cgroup/pids/cgroup.procs");
const platforms = (["kvm", "seccomp"] as const).filter((p) => p !== "kvm" || kvmAvailable());
if (!kvmAvailable()) console.warn("jail runs on kvm skipped: /dev/kvm is not usable here");

describe.skipIf(skip)("kindling run --jail", () => {
  let cli = "";
  let hello = "";
  beforeAll(async () => {
    cli = await bundleCli();
    hello = compile(
      "jail-hello",
      '#include <stdio.h>\nint main(int c, char **v){ char b[64]; if (fgets(b, sizeof b, stdin)) printf("read %s", b); printf("hi %s\\n", c > 1 ? v[1] : "?"); return 42; }',
    );
  });

  // Asynchronous: a synchronous child would block this worker's event loop for the whole file
  // (over a minute), and vitest's RPC to the worker times out.
  function kindling(
    args: string[],
    opts: { env?: Record<string, string>; input?: string; timeout?: number } = {},
  ): Promise<{ status: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [cli, ...args], {
        env: { ...process.env, ...opts.env },
        stdio: ["pipe", "pipe", "pipe"],
        timeout: opts.timeout ?? 60_000,
      });
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (c: string) => {
        stdout += c;
      });
      child.stderr.setEncoding("utf8").on("data", (c: string) => {
        stderr += c;
      });
      child.on("error", reject);
      child.on("close", (status) => resolve({ status, stdout, stderr }));
      child.stdin.on("error", () => {});
      child.stdin.end(opts.input ?? "");
    });
  }

  describe.each(platforms)("on %s", (platform) => {
    const run = (args: string[], o?: Parameters<typeof kindling>[1]) =>
      kindling(["run", "--jail", "--platform", platform, ...args], o);

    it("passes stdio and the exit status through", async () => {
      const r = await run([hello, "jailed"], { input: "a line\n" });
      expect(r.stderr).toBe("");
      expect(r.stdout).toBe("read a line\nhi jailed\n");
      expect(r.status).toBe(42);
    });

    it("runs busybox and the corpus as it does without --jail", { timeout: 400_000 }, async () => {
      const tree = makeTree(`jail-${platform}`);
      const cc = compilers.find((c) => !c.missing)!.cc;
      const cases: string[][] = [[busybox!, "sh", "-c", "echo hi; ls /data; wc -c < /data/hello.txt; exit 3"]];
      for (const name of corpusPrograms()) cases.push([build(name, cc)]);
      for (const argv of cases) {
        const base = [
          "--platform",
          platform,
          "--root",
          tree,
          "--mount",
          `${tree}/scratch:/scratch:rw`,
          "--tmpfs",
          "/tmp",
          "--env",
          "LANG=C",
        ];
        const plain = await kindling(["run", ...base, ...argv]);
        const jailed = await kindling(["run", "--jail", ...base, ...argv]);
        expect({ argv, ...jailed }).toEqual({ argv, ...plain });
      }
    });

    it.skipIf(!existsSync(join(pkg, "build", "demo", "kindling-demo")))("runs the demo", async () => {
      const demo = [
        "--mount",
        `${join(pkg, "demo", "data")}:/data`,
        "--tmpfs",
        "/tmp",
        join(pkg, "build", "demo", "kindling-demo"),
      ];
      const plain = await kindling(["run", "--platform", platform, ...demo]);
      const jailed = await run(demo);
      expect(jailed.status).toBe(0);
      expect(jailed.status).toBe(plain.status);
      // The demo prints timings: compare its lines without numbers.
      const shape = (s: string) => s.replace(/[0-9.]+/g, "N");
      expect(shape(jailed.stdout)).toBe(shape(plain.stdout));
    });

    it("holds --timeout", async () => {
      const t0 = Date.now();
      const r = await run(["--timeout", "1", busybox!, "sleep", "20"]);
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(r.status).toBe(137);
      expect(r.stderr).toContain("timeout");
    });

    it("stops the supervisor at a forbidden call: socket(AF_INET), ptrace, starting a process", async () => {
      for (const [probe, call, nr] of [
        ["socket", "socket", 41],
        ["ptrace", "ptrace", 101],
      ] as const) {
        const r = await run([busybox!, "true"], { env: { KINDLING_JAIL_PROBE: probe } });
        expect(r.stderr).toContain(`the supervisor made system call ${call} (${nr}), which its policy does not allow`);
        expect(r.status).toBe(159);
      }
      const spawned = await run([busybox!, "true"], { env: { KINDLING_JAIL_PROBE: "spawn" } });
      // Whichever call of child_process comes first (epoll_create1, pipe2, clone, ...) stops it.
      expect(spawned.stderr).toMatch(
        /the supervisor made system call [a-z0-9_]+ \(\d+\), which its policy does not allow/,
      );
      expect(spawned.stderr).not.toContain("kindling-jail-probe: spawn =");
      expect(spawned.status).toBe(159);
    });

    it("can start a thread after the filter (clone3 answers ENOSYS, glibc falls back to clone)", async () => {
      const r = await run([hello], { env: { KINDLING_JAIL_PROBE: "threads" } });
      expect(r.stderr).toContain("kindling-jail-probe: threads = ok\n");
      expect(r.status).toBe(42);
    });

    it("the same probe succeeds without the filter (the test can fail)", async () => {
      const r = await run([busybox!, "true"], { env: { KINDLING_JAIL_PROBE: "socket", KINDLING_JAIL_MEASURE: "1" } });
      expect(r.stderr).toMatch(/kindling-jail-probe: socket = \d+\n/);
      expect(r.status).toBe(0);
    });

    it("refuses operator paths that are symlinks as it does outside, and shows nothing they point to", async () => {
      const dir = scratchDir(`jail-links-${platform}`);
      const trace = join(dir, "trace");
      const mount = join(dir, "mount");
      rmSync(trace, { force: true });
      rmSync(mount, { force: true });
      symlinkSync("/etc/passwd", trace);
      symlinkSync("/etc", mount);
      const passwd = readFileSync("/etc/passwd");
      for (const args of [[`--strace=${trace}`], ["--mount", `${mount}:/x:rw`]]) {
        const plain = await kindling(["run", "--platform", platform, ...args, hello]);
        const jailed = await run([...args, hello]);
        expect(plain.status).toBe(125);
        expect(jailed).toEqual(plain);
        expect(jailed.stderr).toContain("is a symbolic link");
      }
      expect(readFileSync("/etc/passwd").equals(passwd)).toBe(true);
      // A trace file that is not a symlink works and is written on the host.
      const real = join(dir, "real-trace");
      rmSync(real, { force: true });
      expect((await run([`--strace=${real}`, hello])).status).toBe(42);
      expect(readFileSync(real, "utf8")).toContain(`write(1, "hi ?\\n", 5) = 5`);
    });

    // Only the seccomp platform makes pids cgroups; only cgroup v1's pids hierarchy is delegated.
    if (platform === "seccomp" && !cgroupV1)
      console.warn("jail: the pids cgroup test is skipped: no cgroup v1 pids hierarchy");
    if (platform === "seccomp")
      it.skipIf(!cgroupV1)(
        "delegates a pids cgroup to the jail, so the sandbox's task limit is a cgroup there too, and removes it",
        async () => {
          const exe = build("confine/task_limit", compilers.find((c) => !c.missing)!.cc);
          const child = spawn(process.execPath, [
            cli,
            "run",
            "--jail",
            "--platform",
            platform,
            "--pids",
            "40",
            exe,
            "10",
            "1500",
          ]);
          const out: Buffer[] = [];
          child.stdout.on("data", (d) => out.push(d));
          child.stderr.resume();
          const done = new Promise<number>((res) => child.on("exit", (c) => res(c ?? -1)));
          const base = "/sys/fs/cgroup/pids/kindling-jail";
          let max: string | undefined;
          for (let i = 0; i < 100 && max === undefined; i++) {
            await new Promise((r) => setTimeout(r, 50));
            for (const d of existsSync(base) ? readdirSync(base) : []) {
              const k = join(base, d, "kindling");
              for (const s of existsSync(k) ? readdirSync(k, { withFileTypes: true }) : []) {
                if (s.isDirectory()) max = readFileSync(join(k, s.name, "pids.max"), "utf8").trim();
              }
            }
          }
          expect(await done).toBe(0);
          expect(Buffer.concat(out).toString()).toBe("created=10 error=none\njoined=10\n");
          expect(max).toBe("41"); // --pids 40, plus the sandbox's init
          const left = existsSync(base) ? readdirSync(base).filter((d) => d.startsWith(`${child.pid}.`)) : [];
          expect(left).toEqual([]);
        },
      );

    it("sees no host path beyond its mounts, in namespaces of its own", async () => {
      const r = await run([hello], { env: { KINDLING_JAIL_PROBE: "ls,ns" } });
      expect(r.status).toBe(42);
      const top = JSON.parse(/kindling-jail-probe: \/ = (.*)\n/.exec(r.stderr)![1]) as string[];
      // Only what the plan puts there: the tmpfs, procfs, /dev, the paths of Node, its
      // libraries, the code and the program (usr-merge links included).
      const repoTop = pkg.split("/")[1];
      const programTop = hello.split("/")[1];
      const allowed = new Set(["dev", "proc", "tmp", "usr", "lib", "lib64", "bin", "sbin", "etc", repoTop, programTop]);
      // /sys holds only the delegated pids cgroup, where the host has cgroup v1's.
      if (existsSync("/sys/fs/cgroup/pids/cgroup.procs")) {
        allowed.add("sys");
        expect(r.stderr).toContain('kindling-jail-probe: /sys/fs/cgroup = ["pids"]\n');
      }
      for (const e of top) expect([e, allowed.has(e)]).toEqual([e, true]);
      for (const hostOnly of ["root", "home", "var", "boot", "srv", "opt"]) expect(top).not.toContain(hostOnly);
      const ns = JSON.parse(/kindling-jail-probe: ns = (.*)\n/.exec(r.stderr)![1]) as Record<string, string>;
      for (const kind of ["user", "mnt", "pid", "net", "ipc", "uts"]) {
        expect(ns[kind]).toMatch(/^[a-z]+:\[\d+\]$/);
        expect([kind, ns[kind]]).not.toEqual([kind, readlinkSync(`/proc/self/ns/${kind}`)]);
      }
      const etc = JSON.parse(/kindling-jail-probe: \/etc = (.*)\n/.exec(r.stderr)?.[1] ?? "[]") as string[];
      expect(etc.every((e) => e === "ld.so.cache")).toBe(true);
    });
  });
});
