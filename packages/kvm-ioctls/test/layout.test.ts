import { readFileSync } from "node:fs";
import { ALL_STRUCTS, Cap, type FieldType, Ioctl, KVM_RUN_OFFSETS, type StructCodec } from "@kindling/kvm-ioctls";
import { describe, expect, it } from "vitest";
import { ccUnavailable, runC } from "./helpers.js";

// C expressions for every field of every codec: offset and size, recursing
// into nested structs and into element 0 of arrays of structs.
function probes(codec: StructCodec<object>): string[] {
  const lines: string[] = [];
  const walk = (c: StructCodec<object>, path: string) => {
    for (const f of c.fields) {
      const p = path ? `${path}.${f.name}` : f.name;
      lines.push(
        `P("${codec.name}", "${p}", offsetof(struct ${codec.name}, ${p}), sizeof(((struct ${codec.name}*)0)->${p}));`,
      );
      const t: FieldType = f.type;
      if (typeof t === "object" && "struct" in t) walk(t.struct, p);
      if (typeof t === "object" && "array" in t && typeof t.array === "object") walk(t.array.struct, `${p}[0]`);
    }
  };
  walk(codec, "");
  return lines;
}

function expected(codec: StructCodec<object>): string[] {
  const lines: string[] = [];
  const size = (t: FieldType): number => {
    if (typeof t === "string") return { u8: 1, u16: 2, u32: 4, i32: 4, u64: 8, i64: 8 }[t];
    if ("bytes" in t) return t.bytes;
    if ("struct" in t) return t.struct.size;
    return size(t.array) * t.count;
  };
  const walk = (c: StructCodec<object>, path: string, base: number) => {
    for (const f of c.fields) {
      const p = path ? `${path}.${f.name}` : f.name;
      lines.push(`${codec.name} ${p} ${base + f.offset} ${size(f.type)}`);
      const t = f.type;
      if (typeof t === "object" && "struct" in t) walk(t.struct, p, base + f.offset);
      if (typeof t === "object" && "array" in t && typeof t.array === "object")
        walk(t.array.struct, `${p}[0]`, base + f.offset);
    }
  };
  walk(codec, "", 0);
  return lines;
}

describe.skipIf(ccUnavailable)("struct layouts match <linux/kvm.h>", () => {
  const structs = ALL_STRUCTS.filter((c) => c.name.startsWith("kvm_"));
  const src = `#include <stdio.h>
#include <stddef.h>
#include <linux/kvm.h>
#define P(s, f, o, z) printf("%s %s %zu %zu\\n", s, f, (size_t)(o), (size_t)(z))
int main(void) {
${structs.map((c) => `  printf("sizeof ${c.name} %zu\\n", sizeof(struct ${c.name}));\n  ${probes(c).join("\n  ")}`).join("\n")}
  printf("kvm_run %zu %zu %zu %zu %zu %zu\\n", sizeof(struct kvm_run), offsetof(struct kvm_run, exit_reason),
    offsetof(struct kvm_run, io), offsetof(struct kvm_run, kvm_valid_regs), offsetof(struct kvm_run, kvm_dirty_regs),
    offsetof(struct kvm_run, s));
${Object.keys(Ioctl)
  .map((k) => `  printf("ioctl ${k} %lu\\n", (unsigned long)${k});`)
  .join("\n")}
  return 0;
}
`;
  const out = ccUnavailable ? "" : runC(src);
  const lines = out.trim().split("\n");

  it.each(structs.map((c) => [c.name, c] as const))("%s: size and every field offset", (_name, codec) => {
    expect(lines).toContain(`sizeof ${codec.name} ${codec.size}`);
    for (const e of expected(codec)) expect(lines).toContain(e);
  });

  it("kvm_run offsets", () => {
    const R = KVM_RUN_OFFSETS;
    expect(lines).toContain(
      `kvm_run ${R.size} ${R.exit_reason} ${R.exit} ${R.kvm_valid_regs} ${R.kvm_dirty_regs} ${R.s}`,
    );
  });

  it("every ioctl request number", () => {
    for (const [k, v] of Object.entries(Ioctl)) expect(lines).toContain(`ioctl ${k} ${v}`);
  });
});

describe("capabilities match <linux/kvm.h>", () => {
  const header = (() => {
    try {
      return readFileSync("/usr/include/linux/kvm.h", "utf8");
    } catch {
      return null;
    }
  })();
  it.skipIf(header === null)("each Cap value has the header's KVM_CAP_ name", () => {
    const defs = new Map<number, string[]>();
    for (const m of header!.matchAll(/#define KVM_CAP_(\w+)\s+(\d+)/g)) {
      const names = defs.get(Number(m[2])) ?? [];
      names.push(m[1].replaceAll("_", "").toLowerCase());
      defs.set(Number(m[2]), names);
    }
    let checked = 0;
    for (const [name, value] of Object.entries(Cap)) {
      if (typeof value !== "number") continue;
      const inHeader = defs.get(value);
      if (inHeader === undefined) continue; // newer than this header
      expect(inHeader, `Cap.${name} = ${value}`).toContain(name.toLowerCase());
      checked++;
    }
    expect(checked).toBeGreaterThan(150);
  });
});
