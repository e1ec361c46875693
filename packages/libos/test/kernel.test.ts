import { LibosError } from "@kindling/libos";
import { MemoryFault, Resume } from "@kindling/syscall-tap";
import { describe, expect, it } from "vitest";
import { setup } from "./core-setup.js";

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

  it("counts calls per syscall number", () => {
    const { k, h } = setup();
    h.call("getpid");
    h.call("getpid");
    expect(k.counts[39]).toBe(2);
  });

  it("turns a MemoryFault into -EFAULT and an error with an errno into -errno; rethrows bugs", () => {
    const { k, h } = setup();
    k.table[400] = () => {
      throw new MemoryFault(1, 1);
    };
    expect(h.call(400)).toBe(-14);
    k.table[401] = () => {
      throw new TypeError("bug");
    };
    expect(() => h.call(401)).toThrow(TypeError);
    k.table[402] = () => {
      throw Object.assign(new Error("EACCES: openat2"), { errno: 13 });
    };
    expect(h.call(402)).toBe(-13);
    k.table[403] = () => {
      throw Object.assign(new Error("odd"), { errno: 99999 });
    };
    expect(() => h.call(403)).toThrow("odd");
  });

  it("rejects bad options with a typed error", () => {
    expect(() => setup({ memory: { base: 0x1001, size: 0x1000 } })).toThrow(LibosError);
    expect(() => setup({ memory: { base: 0x1000, size: 0x1000, brk: 0x5000 } })).toThrow(
      expect.objectContaining({ code: "EINVAL" }),
    );
  });

  it("lets a file side install handlers through attach()", () => {
    const closed: string[] = [];
    const { h } = setup({
      fs: {
        fds: {
          get: () => undefined,
          alloc: () => -24,
          close: () => -9,
          closeAll: () => closed.push("all"),
        },
        attach(k) {
          k.table[0] = () => 42; // read
        },
      },
    });
    expect(h.call("read", 0, 0, 0)).toBe(42);
    h.call("exit_group", 0);
    expect(closed).toEqual(["all"]);
  });
});

describe("programMemory", () => {
  it("lays out brk after the image and mmap below the stack, with both as known mappings", async () => {
    const { Libos, programMemory } = await import("@kindling/libos");
    const memory = programMemory({
      loadStart: 0x400000,
      brkStart: 0x4123ab,
      memoryEnd: 64 << 20,
      stackSize: 1 << 20,
      exe: "/p",
    });
    expect(memory).toMatchObject({ base: 0x413000, size: (62 << 20) - 0x413000, limit: (64 << 20) - 0x400000 });
    const k = new Libos({ memory });
    expect(k.mm.mappings().map((m) => [m.kind, m.start, m.end, m.name])).toEqual([
      ["image", 0x400000, 0x413000, "/p"],
      ["stack", 63 << 20, 64 << 20, "[stack]"],
    ]);
    expect(k.mm.brk).toBe(0x413000);
  });
});
