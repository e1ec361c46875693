import { Libos } from "@kindling/libos";
import { Resume } from "@kindling/syscall-tap";
import { describe, expect, it } from "vitest";
import { FakeMemory, Harness } from "./fake-task.js";

export function setup(opts: Partial<ConstructorParameters<typeof Libos>[0]> = {}) {
  const mem = new FakeMemory(0x10000, 0x100000);
  const unsupported: string[] = [];
  const k = new Libos({
    memory: { base: 0x20000, size: 0xf0000 },
    onUnsupported: (name) => unsupported.push(name),
    ...opts,
  });
  const h = new Harness(k, mem);
  return { k, h, mem, unsupported };
}

describe("dispatch", () => {
  it("answers ENOSYS for unknown syscalls and reports each name once", () => {
    const { h, unsupported } = setup();
    expect(h.call("kexec_load")).toBe(-38);
    expect(h.call("kexec_load")).toBe(-38);
    expect(h.call(100000)).toBe(-38);
    expect(h.call(-1 >>> 0)).toBe(-38);
    expect(unsupported).toEqual(["kexec_load", "syscall_100000", "syscall_4294967295"]);
    expect(h.resume).toBe(Resume.Return);
  });
});
