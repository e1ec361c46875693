/**
 * Runs one program in a sandbox in a child process (with vite-node), so that
 * a test can watch the host (threads, processes) while the sandbox runs:
 *
 *   sandbox-runner.ts '{"platform":"seccomp","argv":["/path/prog","arg"],"tree":"name"}'
 *
 * Prints one JSON line: {"result": {stdout, stderr, status, stopped?}, "maxRssKb": peak RSS of this process}.
 */
import type { PlatformName } from "@kindling/vmm-reference";
import { makeTree, runSandbox } from "../conformance/harness.js";

const job = JSON.parse(process.argv[2] ?? "{}") as { platform: PlatformName; argv: string[]; tree: string };
const result = runSandbox(job.argv, { cwd: makeTree(job.tree), platform: job.platform });
process.stdout.write(`${JSON.stringify({ result, maxRssKb: process.resourceUsage().maxRSS })}\n`);
