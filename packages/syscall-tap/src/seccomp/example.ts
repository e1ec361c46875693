import { Resume, SeccompPlatform, type SyscallServer, SyscallStats, Tracer } from "@kindling/syscall-tap";

/** Runs a static program under the seccomp platform with an strace-like trace. */
export function traceProgram(
  file: string,
  argv: string[],
): { lines: string[]; exitCode: number | null; stats: string } {
  // A server that answers getppid itself and lets the host kernel run every other call.
  const server: SyscallServer = {
    onSyscall(_task, ev, outcome) {
      if (ev.nr === 110) return 4242; // getppid
      outcome.resume = Resume.Continue;
      return 0;
    },
    onFault() {},
  };
  const lines: string[] = [];
  const stats = new SyscallStats();
  const proc = SeccompPlatform.spawn({ file, argv, env: [], fds: [0, 2, 2] }); // the program's stdout goes to our stderr
  const exit = proc.run(new Tracer(server, (line) => lines.push(line), { stats }));
  return { lines, exitCode: exit.exitCode, stats: stats.table() };
}
