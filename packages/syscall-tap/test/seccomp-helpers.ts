import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryFault, Resume, type SyscallEvent, type SyscallServer, type TaskControl } from "@kindling/syscall-tap";

export const dir = mkdtempSync(join(tmpdir(), "kindling-seccomp-"));

/** Compiles a C program with `cc -static` into the temp dir. */
export function compile(name: string, source: string, compiler = "cc"): string {
  const src = join(dir, `${name}.c`);
  const out = join(dir, name);
  writeFileSync(src, source);
  execFileSync(compiler, ["-static", "-O1", "-o", out, src], { stdio: "pipe" });
  return out;
}

export function hasCompiler(cmd = "cc"): boolean {
  try {
    execFileSync(cmd, ["--version"], { stdio: "pipe" });
    return true;
  } catch {
    return false;
  }
}

/**
 * A tiny server: getppid answers 4242; write/writev to fd 1 or 2 are captured;
 * everything else runs natively (Continue).
 */
export class CaptureServer implements SyscallServer {
  readonly out: number[] = [];
  readonly err: number[] = [];
  faults = 0;
  calls = 0;
  hook: ((task: TaskControl, ev: SyscallEvent, outcome: { resume: Resume }) => number | undefined) | undefined;

  onSyscall(task: TaskControl, ev: SyscallEvent, outcome: { resume: Resume }): number {
    this.calls++;
    if (this.hook) {
      const r = this.hook(task, ev, outcome);
      if (r !== undefined) return r;
    }
    try {
      switch (ev.nr) {
        case 110: // getppid
          return 4242;
        case 1: {
          // write
          const fd = ev.argI32(0);
          if (fd !== 1 && fd !== 2) break;
          const data = task.memory.read(ev.arg(1), ev.arg(2));
          (fd === 1 ? this.out : this.err).push(...data);
          return data.byteLength;
        }
        case 20: {
          // writev
          const fd = ev.argI32(0);
          if (fd !== 1 && fd !== 2) break;
          let total = 0;
          for (let i = 0; i < ev.arg(2); i++) {
            const base = task.memory.readU64(ev.arg(1) + i * 16);
            const len = task.memory.readU64(ev.arg(1) + i * 16 + 8);
            const data = task.memory.read(base, len);
            (fd === 1 ? this.out : this.err).push(...data);
            total += len;
          }
          return total;
        }
      }
    } catch (e) {
      if (e instanceof MemoryFault) {
        this.faults++;
        return -14;
      }
      throw e;
    }
    outcome.resume = Resume.Continue;
    return 0;
  }

  onFault(): void {
    throw new Error("no faults on the seccomp platform");
  }

  get stdout(): string {
    return Buffer.from(this.out).toString("utf8");
  }
}
