/**
 * Runs the kindling CLI's main() from the sources (with vite-node) in a child
 * process, so that a test can give it host stdio of its choosing (a FIFO) and
 * kill it if it hangs:
 *
 *   cli-runner.ts run --timeout 2 /path/prog
 *
 * Writes one JSON line to fd 3 at the end: {"status", "ms"} (ms: main()'s wall time).
 */
import { writeSync } from "node:fs";
import { main } from "@kindling/vmm-reference";

const started = performance.now();
const status = await main(process.argv.slice(2));
writeSync(3, `${JSON.stringify({ status, ms: Math.round(performance.now() - started) })}\n`);
process.exit(status);
