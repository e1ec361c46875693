// The places a workload runs: natively, in the Kindling sandbox (library on
// the kvm and seccomp platforms, and the `kindling run` CLI), and in gVisor's
// `runsc do` on its ptrace platform. Each runner takes a host executable and
// arguments in which the token DATA stands for the benchmark's data
// directory (the host path natively and under runsc; a read-only mount at
// /data in the sandbox) and returns { status, stdout, stderr, wallMs }.
import { spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./util.mjs";

export const DATA = "\0DATA\0";
const SANDBOX_DATA = "/data";
const cliPath = join(repoRoot, "packages", "vmm-reference", "bin", "kindling.js");
const cliBuilt = join(repoRoot, "packages", "vmm-reference", "dist", "cli.js");
export const RUNSC_FLAGS = ["--rootless", "--network=none", "--platform=ptrace"];

function mapArgs(args, dataDir) {
  return args.map((a) => a.split(DATA).join(dataDir));
}

function spawnTimed(file, argv, timeoutS) {
  const t0 = performance.now();
  const r = spawnSync(file, argv, { encoding: "utf8", maxBuffer: 64 << 20, timeout: timeoutS * 1000 });
  const wallMs = performance.now() - t0;
  if (r.error) return { status: -1, stdout: r.stdout ?? "", stderr: String(r.error), wallMs };
  return { status: r.status ?? 128 + (r.signal ? 9 : 0), stdout: r.stdout, stderr: r.stderr, wallMs };
}

export function nativeRunner(dataDir) {
  return {
    id: "native",
    label: "native",
    available: true,
    run: (exe, args, { timeoutS = 600 } = {}) => spawnTimed(exe, mapArgs(args, dataDir), timeoutS),
  };
}

/** The `Sandbox` library API in this process (start to exit includes creating the sandbox). */
export function libraryRunner(platform, dataDir, Sandbox, availability) {
  return {
    id: platform,
    label: `kindling ${platform}`,
    ...availability,
    run(exe, args, { timeoutS = 600, memory = 256 << 20 } = {}) {
      const t0 = performance.now();
      const sb = Sandbox.createSync({
        platform,
        stdio: "pipe",
        mounts: [{ host: dataDir, path: SANDBOX_DATA }],
        memory,
        timeout: timeoutS,
      });
      const r = sb.runSync([exe, ...mapArgs(args, SANDBOX_DATA)]);
      const wallMs = performance.now() - t0;
      return {
        status: r.status,
        stdout: r.stdout?.toString() ?? "",
        stderr: (r.stderr?.toString() ?? "") + (r.stopped ? `stopped: ${r.stopped}` : ""),
        wallMs,
        syscalls: r.syscalls,
      };
    },
  };
}

/** `node packages/vmm-reference/bin/kindling.js run --platform P ...`: a fresh process per run. */
export function cliRunner(platform, dataDir, availability) {
  const built = existsSync(cliBuilt);
  return {
    id: `${platform}-cli`,
    label: `kindling run (${platform})`,
    available: availability.available && built,
    reason: !availability.available ? availability.reason : built ? undefined : `${cliBuilt} is not built`,
    run: (exe, args, { timeoutS = 600 } = {}) =>
      spawnTimed(
        process.execPath,
        [
          cliPath,
          "run",
          `--platform=${platform}`,
          "--clear-env",
          `--mount=${dataDir}:${SANDBOX_DATA}`,
          exe,
          ...mapArgs(args, SANDBOX_DATA),
        ],
        timeoutS,
      ),
  };
}

export function runscRunner(dataDir, availability) {
  return {
    id: "runsc",
    label: "gVisor runsc (ptrace)",
    ...availability,
    run: (exe, args, { timeoutS = 600 } = {}) =>
      spawnTimed("runsc", [...RUNSC_FLAGS, "do", exe, ...mapArgs(args, dataDir)], timeoutS),
  };
}

/**
 * Whether `runsc do` works here: runs `hello` under it and checks its output.
 * Returns { available, reason?, version?, note? }.
 */
export function probeRunsc(hello) {
  const v = spawnSync("runsc", ["--version"], { encoding: "utf8", timeout: 30_000 });
  if (v.error)
    return {
      available: false,
      reason: `runsc is not installed (${v.error.code ?? v.error.message}); scripts/test.sh installs the Debian package runsc`,
    };
  const version = (v.stdout.split("\n")[0] ?? "").replace(/^runsc version\s*/, "").trim();
  const r = spawnSync("runsc", [...RUNSC_FLAGS, "do", hello], { encoding: "utf8", timeout: 60_000 });
  if (r.error || r.status !== 0 || r.stdout.trim() !== "hello") {
    const why = r.error
      ? String(r.error)
      : `status ${r.status}: ${(r.stderr || r.stdout).trim().split("\n").slice(-3).join(" / ")}`;
    return { available: false, reason: `runsc ${RUNSC_FLAGS.join(" ")} do failed here (${why})`, version };
  }
  // What the sandboxed program sees of its identity and of the host's files (observed, not assumed).
  const uid = process.getuid?.() ?? -1;
  let inside = "";
  const probeFile = `/tmp/kindling-bench-runsc-probe-${process.pid}`;
  const sh = spawnSync(
    "runsc",
    [...RUNSC_FLAGS, "do", "/usr/bin/busybox", "sh", "-c", `id -u; echo x > ${probeFile} && echo wrote`],
    { encoding: "utf8", timeout: 60_000 },
  );
  if (sh.status === 0) {
    const [innerUid, wrote] = sh.stdout.trim().split("\n");
    const leaked = existsSync(probeFile);
    if (leaked) rmSync(probeFile, { force: true });
    inside =
      `; inside, the program runs as uid ${innerUid} and sees the host's / ` +
      (wrote === "wrote"
        ? leaked
          ? "with writes reaching the host"
          : "through an overlay (a file it wrote to /tmp did not appear on the host)"
        : "read-only");
  }
  return {
    available: true,
    version,
    note: `Started as uid ${uid}${uid === 0 ? " (root: --rootless is accepted and runsc runs)" : ""}${inside}`,
  };
}
