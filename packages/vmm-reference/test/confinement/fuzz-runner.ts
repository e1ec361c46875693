/**
 * The child process of syscall-fuzz.test.ts (run with vite-node, so a crash of
 * Node ends this process, not vitest): runs corpus/confine/syscall_fuzz on one
 * platform, seed after seed, until its time is up, and appends one JSON line
 * per event to the job's `events` file: {"dir"}, then per seed {"start"} and
 * {"seed", ...result}. (A file, not stdout: a write to a full stdout pipe may
 * fail with EAGAIN, and a file keeps what was written before a crash.)
 *
 *   fuzz-runner.ts '{"platform":"kvm","exes":{...},"firstSeed":1,"seconds":20,"calls":2000,"events":"/tmp/x"}'
 */
import * as nfs from "node:fs";
import { join } from "node:path";
import { type PlatformName, Sandbox, type SandboxOptions } from "@kindling/vmm-reference";
import { hashTree, makeTree, workDir } from "../conformance/harness.js";

export interface FuzzJob {
  platform: PlatformName;
  /** compiler → host path of the fuzzer built with it. */
  exes: Record<string, string>;
  firstSeed: number;
  /** Seeds to run; when absent, seeds from firstSeed on until `seconds` are spent. */
  seeds?: number[];
  seconds: number;
  calls: number;
  /** The file the events are appended to. */
  events: string;
  /** For triage: a file the libos's strace lines are appended to. */
  strace?: string;
}

export interface SeedResult {
  seed: number;
  cc: string;
  layout: "ro-root+rw-mount" | "rw-root";
  ms: number;
  status?: number;
  stopped?: string;
  /** The "done <calls> <faults>" line, when it got that far. */
  done?: string;
  /** Why this seed failed the test; absent when it passed. */
  failure?: string;
  tail: string[];
}

/** Reasons a sandbox may stop a fuzzer: limits it reached, not errors of the libos. */
const EXPECTED_STOP = /^(timeout|cpu-limit|memory|deadlock)/;

function emit(o: object): void {
  nfs.appendFileSync(job.events, `${JSON.stringify(o)}\n`);
}

/** A digest of a file beside the tree: content, mode and times. */
function fileDigest(p: string): string {
  try {
    const st = nfs.lstatSync(p);
    return `${st.mode} ${st.size} ${st.mtimeMs} ${st.ctimeMs} ${nfs.readFileSync(p).toString("hex")}`;
  } catch (e) {
    return `missing: ${(e as Error).message}`;
  }
}

function runSeed(job: FuzzJob, seed: number): SeedResult {
  const ccs = Object.keys(job.exes).sort();
  const cc = ccs[seed % ccs.length];
  const layout = Math.floor(seed / ccs.length) % 2 === 0 ? "ro-root+rw-mount" : "rw-root";
  const tree = makeTree(`fuzz-${seed}`);
  const ro = makeTree(`fuzz-${seed}-ro`);
  const secret = `${tree}.secret`;
  nfs.writeFileSync(secret, `secret of seed ${seed}\n`);
  const parent = join(tree, "..");
  const beside = () => nfs.readdirSync(parent).sort().join("\n");
  const writable = layout === "rw-root" ? ["."] : ["scratch"];
  const before = { tree: hashTree(tree, writable), ro: hashTree(ro), secret: fileDigest(secret), beside: beside() };

  const options: SandboxOptions = {
    platform: job.platform,
    root: tree,
    rootWritable: layout === "rw-root",
    mounts: [
      { host: ro, path: "/ro", writable: false },
      ...(layout === "rw-root" ? [] : [{ host: join(tree, "scratch"), path: "/scratch", writable: true }]),
    ],
    tmpfs: ["/tmp"],
    memory: 64 << 20,
    // 2000 calls take under 2 s on a loaded machine; most runs that reach this spin in code a call overwrote.
    timeout: 3,
    stdio: "pipe",
  };
  const strace = job.strace;
  if (strace !== undefined) options.strace = (line) => nfs.appendFileSync(strace, `${line}\n`);
  const r: SeedResult = { seed, cc, layout, ms: 0, tail: [] };
  const started = performance.now();
  const failures: string[] = [];
  try {
    const res = Sandbox.createSync(options).runSync([job.exes[cc], String(seed), String(job.calls)]);
    r.status = res.status;
    if (res.stopped !== undefined) r.stopped = res.stopped;
    const lines = (res.stdout?.toString("latin1") ?? "").split("\n").filter((l) => l !== "");
    r.tail = lines.slice(-24);
    r.done = lines.find((l) => l.startsWith("done "));
    const err = res.stderr?.toString("latin1") ?? "";
    if (err !== "") r.tail.push(`stderr: ${err.slice(-2000)}`);
    if (res.stopped !== undefined && !EXPECTED_STOP.test(res.stopped)) {
      failures.push(`the sandbox stopped the program with an internal error: ${res.stopped}`);
    }
  } catch (e) {
    const x = e as Error & { code?: string };
    failures.push(`runSync threw ${x.name}${x.code ? ` (${x.code})` : ""}: ${x.message}\n${x.stack ?? ""}`);
  }
  r.ms = Math.round(performance.now() - started);
  const after = { tree: hashTree(tree, writable), ro: hashTree(ro), secret: fileDigest(secret), beside: beside() };
  if (after.tree !== before.tree) failures.push(`the read-only part of the root tree ${tree} changed`);
  if (after.ro !== before.ro) failures.push(`the read-only mount ${ro} changed`);
  if (after.secret !== before.secret)
    failures.push(`the secret beside the tree changed: ${after.secret.slice(0, 200)}`);
  if (after.beside !== before.beside) {
    failures.push(`the directory beside the tree changed:\n${before.beside}\n→\n${after.beside}`);
  }
  if (failures.length > 0) r.failure = failures.join("\n");
  else {
    for (const p of [tree, ro, secret]) nfs.rmSync(p, { recursive: true, force: true });
  }
  return r;
}

const job = JSON.parse(process.argv[2]) as FuzzJob;
emit({ dir: workDir() });
const end = performance.now() + job.seconds * 1000;
const seeds = job.seeds ?? [];
for (let i = 0; job.seeds ? i < seeds.length : performance.now() < end; i++) {
  const seed = job.seeds ? seeds[i] : job.firstSeed + i;
  emit({ start: seed });
  emit(runSeed(job, seed));
}
