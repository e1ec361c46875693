/**
 * kindling-seccompiler: compiles a Firecracker seccomp JSON file to BPF, or
 * explains one decision.
 *
 *   kindling-seccompiler --input-file F.json [--target-arch x86_64] --output-file OUT [--strategy tree|linear]
 *   kindling-seccompiler --input-file F.json [--target-arch x86_64] --explain NAME SYSCALL [ARGS...]
 *   kindling-seccompiler --input-file F.json [--target-arch x86_64] --disassemble NAME
 *
 * --output-file writes the JSON index to OUT and each filter's raw BPF
 * (struct sock_filter[], little-endian) beside it as OUT-without-.json.NAME.bpf.
 */
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { Command, CommanderError, Option } from "commander";
import { compileJson } from "./api.js";
import { disassemble } from "./bpf.js";
import type { DispatchStrategy } from "./compile.js";
import { SeccompError } from "./errors.js";
import { BpfProgram } from "./interpreter.js";
import { formatAction, retToAction } from "./model.js";
import { auditArch, parseArch, resolveSyscallArg } from "./syscalls/cli-helpers.js";

export interface CliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

const defaultIo: CliIo = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
};

/** The index written next to the programs. */
export interface OutputIndex {
  version: 1;
  arch: string;
  strategy: DispatchStrategy;
  filters: Record<string, { file: string; instructions: number; sha256: string }>;
}

function parseArg(text: string): bigint {
  let v: bigint;
  try {
    v = BigInt(text);
  } catch {
    throw new SeccompError("INVALID_VALUE", `argument "${text}" is not an integer`);
  }
  if (v < -(1n << 63n) || v >= 1n << 64n)
    throw new SeccompError("INVALID_VALUE", `argument ${text} does not fit in 64 bits`);
  return BigInt.asUintN(64, v);
}

/** Runs the CLI on `argv` (without node and the script); returns the exit code. */
export function runCli(argv: readonly string[], io: CliIo = defaultIo): number {
  const program = new Command("kindling-seccompiler")
    .description("Compile Firecracker-format seccomp JSON filters to BPF")
    .requiredOption("--input-file <file>", "the JSON filter file")
    .option("--target-arch <arch>", "x86_64 or aarch64", "x86_64")
    .option("--output-file <file>", "write the JSON index here and the programs beside it")
    .addOption(new Option("--strategy <strategy>", "syscall dispatch").choices(["tree", "linear"]).default("tree"))
    .option("--explain <name_syscall_args...>", "NAME SYSCALL [ARGS...]: the decision of filter NAME on a syscall")
    .option("--disassemble <name>", "print filter NAME's program")
    .option("--trace", "with --explain: list the instructions executed")
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  try {
    program.parse([...argv], { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    throw e;
  }
  const o = program.opts<{
    inputFile: string;
    targetArch: string;
    outputFile?: string;
    strategy: DispatchStrategy;
    explain?: string[];
    disassemble?: string;
    trace?: boolean;
  }>();
  const modes = [o.outputFile, o.explain, o.disassemble].filter((m) => m !== undefined).length;
  if (modes !== 1) {
    io.stderr("error: give exactly one of --output-file, --explain, --disassemble\n");
    return 2;
  }
  try {
    const arch = parseArch(o.targetArch);
    const filters = compileJson(readFileSync(o.inputFile, "utf8"), { arch, strategy: o.strategy });
    const get = (name: string) => {
      const f = filters.get(name);
      if (f === undefined)
        throw new SeccompError("INVALID_VALUE", `no filter "${name}" (have: ${[...filters.keys()].join(", ")})`);
      return f;
    };
    if (o.outputFile !== undefined) {
      const out = o.outputFile;
      const base = basename(out).replace(/\.json$/, "");
      const index: OutputIndex = { version: 1, arch, strategy: o.strategy, filters: {} };
      let n = 0;
      for (const [name, { program }] of filters) {
        const safe = /^[A-Za-z0-9_-]{1,64}$/.test(name) ? name : `filter${n}`;
        n++;
        const file = `${base}.${safe}.bpf`;
        writeFileSync(join(dirname(out), file), program);
        index.filters[name] = {
          file,
          instructions: program.byteLength / 8,
          sha256: createHash("sha256").update(program).digest("hex"),
        };
      }
      writeFileSync(out, `${JSON.stringify(index, null, 2)}\n`);
      for (const [name, f] of Object.entries(index.filters)) {
        io.stdout(`${name}: ${f.instructions} instructions -> ${join(dirname(out), f.file)}\n`);
      }
      return 0;
    }
    if (o.disassemble !== undefined) {
      io.stdout(`${disassemble(get(o.disassemble).program)}\n`);
      return 0;
    }
    const [name, sys, ...rest] = o.explain!;
    if (name === undefined || sys === undefined || rest.length > 6) {
      io.stderr("error: --explain NAME SYSCALL [up to 6 ARGS]\n");
      return 2;
    }
    const { filter, program: bytes } = get(name);
    const nr = resolveSyscallArg(sys, arch);
    const args = rest.map(parseArg);
    const run = new BpfProgram(bytes).trace({ nr, arch: auditArch(arch), args });
    const decision = filter.evaluate({ nr, args });
    const sysName = filter.syscallName(nr) ?? `#${nr}`;
    io.stdout(
      `${name} (${arch}): ${sysName}(${args.map((a) => `0x${a.toString(16)}`).join(", ")}) -> ${formatAction(run.action)}\n`,
    );
    if (decision.reason === "rule") {
      const rules = filter.syscalls.get(nr);
      const why =
        decision.rule === -1 || !rules
          ? `${sysName} is listed without conditions`
          : `rule ${decision.rule} of ${sysName} matched: ${rules[decision.rule!]!.conditions.map(String).join(" && ")}`;
      io.stdout(`  ${why}\n`);
    } else if (decision.reason === "default") {
      io.stdout(`  no rule matched: the mismatch action\n`);
    } else io.stdout(`  ${decision.reason === "x32" ? "an x32 syscall number" : "a foreign architecture"}: killed\n`);
    io.stdout(`  BPF: ${run.executed} instructions executed, returned 0x${run.ret.toString(16).padStart(8, "0")}\n`);
    if (o.trace) {
      const listing = disassemble(bytes).split("\n");
      for (const pc of run.path) io.stdout(`  ${listing[pc]}\n`);
    }
    if (run.ret !== decision.ret) {
      io.stderr(
        `internal error: the program says ${formatAction(retToAction(run.ret))}, the filter ${formatAction(decision.action)}\n`,
      );
      return 3;
    }
    return 0;
  } catch (e) {
    if (e instanceof SeccompError) {
      io.stderr(`error [${e.code}]: ${e.message}\n`);
      return 1;
    }
    if (e instanceof Error && "code" in e && typeof e.code === "string") {
      io.stderr(`error [${e.code}]: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
