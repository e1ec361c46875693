import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AUDIT_ARCH_X86_64,
  BpfProgram,
  compileFilter,
  compileJson,
  SeccompCondition,
  SeccompFilter,
  SeccompRule,
  spawnWithFilter,
} from "@kindling/seccompiler";
import { waitpid } from "@kindling/sys-util";

// A policy in Firecracker's JSON format: mkdir fails with EPERM, everything else runs.
const policy = `{
  "main": {
    "mismatch_action": "allow",
    "match_action": { "errno": 1 },
    "filter": [
      { "syscall": "mkdir", "comment": "EPERM for every mkdir" },
      { "syscall": "mkdirat" }
    ]
  }
}`;

export function denyMkdir() {
  const { program } = compileJson(policy, { arch: "x86_64" }).get("main")!;

  // Ask the interpreter what the program does with mkdirat(AT_FDCWD, ...).
  const AT_FDCWD = BigInt.asUintN(64, -100n);
  const decision = new BpfProgram(program).run({ nr: 258, arch: AUDIT_ARCH_X86_64, args: [AT_FDCWD] });

  // Run a real program with the filter installed in the child just before exec.
  const dir = join(mkdtempSync(join(tmpdir(), "seccompiler-demo-")), "blocked");
  const child = spawnWithFilter({ file: "/bin/mkdir", argv: ["mkdir", dir], program });
  const status = waitpid(child.pid);

  // The builder API: futex only as FUTEX_WAIT (op & 0x7f == 0, any flags), exit_group; else kill.
  const futexOnly = new SeccompFilter({
    rules: {
      futex: [new SeccompRule([new SeccompCondition(1, "dword", { masked_eq: 0x7fn }, 0n)])], // FUTEX_WAIT
      exit_group: [],
    },
    matchAction: "allow",
    mismatchAction: "kill_process",
  });
  const bytes = compileFilter(futexOnly); // raw sock_filter[] for seccomp(2)

  return {
    decision: decision.action, // { errno: 1 }
    executed: decision.executed, // BPF instructions run for that call
    exitCode: status.exitCode, // 1: mkdir failed
    created: existsSync(dir), // false
    futexInstructions: bytes.byteLength / 8,
  };
}
