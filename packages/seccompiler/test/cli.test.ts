import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BpfProgram, compileJson, type OutputIndex, runCli } from "@kindling/seccompiler";
import { describe, expect, it } from "vitest";
import { firecrackerJson, firecrackerJsonPath } from "./helpers.js";

function cli(...argv: string[]) {
  let out = "";
  let err = "";
  const code = runCli(argv, { stdout: (s) => (out += s), stderr: (s) => (err += s) });
  return { code, out, err };
}

const sample = `{
  "main": {"mismatch_action": {"errno": 1}, "match_action": "allow", "filter": [
    {"syscall": "read"},
    {"syscall": "ioctl", "args": [{"index": 1, "type": "dword", "op": "eq", "val": 21505, "comment": "TCGETS"}]}
  ]},
  "odd/name": {"default_action": "trap", "filter_action": "allow", "filter": []}
}`;

describe("kindling-seccompiler CLI", () => {
  const dir = mkdtempSync(join(tmpdir(), "seccompiler-cli-"));
  const input = join(dir, "f.json");
  writeFileSync(input, sample);

  it("writes raw BPF per filter and a JSON index", () => {
    const out = join(dir, "out.json");
    const r = cli("--input-file", input, "--target-arch", "x86_64", "--output-file", out);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const index = JSON.parse(readFileSync(out, "utf8")) as OutputIndex;
    expect(index.arch).toBe("x86_64");
    expect(Object.keys(index.filters)).toEqual(["main", "odd/name"]);
    expect(index.filters["odd/name"]!.file).toBe("out.filter1.bpf");
    const bytes = new Uint8Array(readFileSync(join(dir, index.filters.main!.file)));
    expect(bytes).toEqual(compileJson(sample).get("main")!.program);
    expect(bytes.byteLength / 8).toBe(index.filters.main!.instructions);
    const bpf = new BpfProgram(bytes);
    expect(bpf.run({ nr: 16, arch: 0xc000003e, args: [0n, 21505n] }).action).toBe("allow");
    expect(bpf.run({ nr: 16, arch: 0xc000003e, args: [0n, 21506n] }).action).toEqual({ errno: 1 });
  });

  it("--explain names the decision, the rule and the cost", () => {
    const r = cli("--input-file", input, "--explain", "main", "ioctl", "0", "0x5401");
    expect(r.code).toBe(0);
    expect(r.out).toContain("main (x86_64): ioctl(0x0, 0x5401) -> allow");
    expect(r.out).toContain("rule 0 of ioctl matched: arg1.lo32 eq 21505");
    expect(r.out).toMatch(/BPF: \d+ instructions executed, returned 0x7fff0000/);
    const d = cli("--input-file", input, "--explain", "main", "16", "0", "1");
    expect(d.out).toContain("-> errno(1)");
    expect(d.out).toContain("no rule matched");
    expect(cli("--input-file", input, "--explain", "main", "read").out).toContain("listed without conditions");
    const t = cli("--input-file", input, "--explain", "main", "read", "--trace");
    expect(t.out).toContain("   0: ld [4]");
    expect(t.out.trim().split("\n").at(-1)).toContain("ret 0x7fff0000");
  });

  it("--disassemble prints the program", () => {
    const r = cli("--input-file", input, "--disassemble", "main");
    expect(r.out.split("\n")[0]).toBe("   0: ld [4]");
  });

  it("reports typed errors with their place and a non-zero exit", () => {
    const bad = join(dir, "bad.json");
    writeFileSync(bad, '{"x": {"mismatch_action": "trap", "match_action": "allow", "filter": [{"syscall": "nope"}]}}');
    const r = cli("--input-file", bad, "--output-file", join(dir, "o.json"));
    expect(r.code).toBe(1);
    expect(r.err).toContain("error [UNKNOWN_SYSCALL]");
    expect(r.err).toContain("x.filter[0].syscall");
    expect(cli("--input-file", input, "--explain", "nope", "read").err).toContain('no filter "nope"');
    expect(cli("--input-file", input, "--explain", "main", "read", "zz").err).toContain("INVALID_VALUE");
    expect(cli("--input-file", input, "--target-arch", "mips", "--output-file", join(dir, "o.json")).err).toContain(
      "UNKNOWN_ARCH",
    );
    expect(cli("--input-file", input).code).toBe(2);
    expect(cli("--output-file", "x").code).toBe(2); // --input-file is required
    expect(cli("--input-file", join(dir, "missing.json"), "--disassemble", "main").err).toContain("ENOENT");
  });

  it.skipIf(firecrackerJson === undefined)("compiles Firecracker's filter for x86_64", () => {
    const r = cli("--input-file", firecrackerJsonPath, "--output-file", join(dir, "fc.json"));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^vmm: \d+ instructions/m);
  });
});
