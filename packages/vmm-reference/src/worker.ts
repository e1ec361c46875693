// Runs one sandbox in a worker thread so Sandbox.run() leaves the caller's
// event loop free; the vCPU loop itself stays synchronous in this thread.
import { parentPort, workerData } from "node:worker_threads";
import { Sandbox, type SandboxOptions } from "./sandbox.js";

interface Job {
  options: Omit<SandboxOptions, "strace" | "onUnsupported"> & { strace?: boolean; onUnsupported?: boolean };
  argv: string[];
}

const job = workerData as Job;
const port = parentPort!;
const options: SandboxOptions = { ...job.options, strace: undefined, onUnsupported: undefined };
if (job.options.strace) options.strace = (line) => port.postMessage({ kind: "strace", line });
if (job.options.onUnsupported) options.onUnsupported = (name) => port.postMessage({ kind: "unsupported", name });
try {
  const r = Sandbox.createSync(options).runSync(job.argv);
  port.postMessage({
    kind: "result",
    result: { ...r, stats: typeof r.stats === "object" ? r.stats.table() : r.stats },
  });
} catch (e) {
  const err = e as Error & { code?: string; status?: number };
  port.postMessage({ kind: "error", name: err.name, message: err.message, code: err.code, status: err.status });
}
