import { Cmdline, LoaderError, loadCmdline } from "@kindling/linux-loader";
import { GuestMemoryMmap } from "@kindling/vm-memory";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(LoaderError);
    return (e as LoaderError).code;
  }
  return "ok";
}

describe("Cmdline (rust-vmm's rules)", () => {
  it("inserts key=value pairs separated by spaces", () => {
    const c = new Cmdline(100);
    expect(c.toString()).toBe("");
    c.insert("hello", "world").insert("foo", "bar");
    expect(c.toString()).toBe("hello=world foo=bar");
    expect(Buffer.from(c.toBytes()).toString("latin1")).toBe("hello=world foo=bar\0");
  });

  it("refuses spaces and equals signs in keys, spaces in unquoted values", () => {
    const c = new Cmdline(100);
    expect(code(() => c.insert("a ", "b"))).toBe("CMDLINE_HAS_SPACE");
    expect(code(() => c.insert(" a", "b"))).toBe("CMDLINE_HAS_SPACE");
    expect(code(() => c.insert("a", "b "))).toBe("CMDLINE_HAS_SPACE");
    expect(code(() => c.insert("a=", "b"))).toBe("CMDLINE_HAS_EQUALS");
    expect(code(() => c.insert("=a", "b"))).toBe("CMDLINE_HAS_EQUALS");
    expect(code(() => c.insert("", "b"))).toBe("CMDLINE_MISSING_VALUE");
    expect(code(() => c.insert("a", ""))).toBe("CMDLINE_MISSING_VALUE");
    expect(c.toString()).toBe("");
    c.insert("root", "PARTUUID=1234-01"); // '=' is fine in a value
    expect(c.toString()).toBe("root=PARTUUID=1234-01");
  });

  it("accepts quotes only around a whole value", () => {
    const c = new Cmdline(100);
    c.insert("dyndbg", '"file foo.c +p"');
    expect(c.toString()).toBe('dyndbg="file foo.c +p"');
    expect(code(() => c.insert("a", '"b'))).toBe("CMDLINE_INVALID_QUOTE");
    expect(code(() => c.insert("a", 'b"c"'))).toBe("CMDLINE_INVALID_QUOTE");
    expect(code(() => c.insert("a", '"b"c"'))).toBe("CMDLINE_INVALID_QUOTE");
    expect(code(() => c.insert('"a"', "b"))).toBe("CMDLINE_INVALID_QUOTE");
    expect(code(() => c.insertStr('unbalanced="x'))).toBe("CMDLINE_INVALID_QUOTE");
  });

  it("refuses characters outside printable ASCII", () => {
    const c = new Cmdline(100);
    expect(code(() => c.insert("heart", "💖"))).toBe("CMDLINE_INVALID_ASCII");
    expect(code(() => c.insert("💖", "love"))).toBe("CMDLINE_INVALID_ASCII");
    expect(code(() => c.insertStr("a\nb"))).toBe("CMDLINE_INVALID_ASCII");
    expect(code(() => c.insertStr("a\0"))).toBe("CMDLINE_INVALID_ASCII");
  });

  it("keeps the NUL-terminated size within the capacity", () => {
    expect(code(() => new Cmdline(0))).toBe("INVALID_ARGUMENT");
    const c = new Cmdline(4);
    expect(code(() => c.insert("hello", "world"))).toBe("CMDLINE_TOO_LARGE");
    c.insert("a", "b"); // 3 bytes + NUL = 4
    expect(code(() => c.insert("a", "b"))).toBe("CMDLINE_TOO_LARGE");
    expect(code(() => c.insertStr("a"))).toBe("CMDLINE_TOO_LARGE");
    expect(c.toString()).toBe("a=b");
    const d = new Cmdline(10);
    d.insert("ab", "ba");
    expect(code(() => d.insert("c", "da"))).toBe("CMDLINE_TOO_LARGE");
    d.insert("c", "d");
    expect(d.toString()).toBe("ab=ba c=d");
  });

  it("inserts strings, multiple values and init args after ' -- '", () => {
    const c = new Cmdline(100);
    c.insertStr("noapic").insertStr("nopci").insertMultiple("foo", ["bar", "baz"]);
    c.insertInitArgs("--verbose").insertInitArgs("single");
    expect(c.toString()).toBe("noapic nopci foo=bar,baz -- --verbose single");
    c.insert("late", "1"); // boot args stay before the init args
    expect(c.toString()).toBe("noapic nopci foo=bar,baz late=1 -- --verbose single");
    expect(code(() => c.insertMultiple("k", []))).toBe("CMDLINE_MISSING_VALUE");
    const p = Cmdline.parse("console=ttyS0 quiet -- init=x", 100);
    expect(p.bootArgs).toBe("console=ttyS0 quiet");
    expect(p.initArgs).toBe("init=x");
  });

  it("adds virtio-mmio devices like rust-vmm", () => {
    expect(code(() => new Cmdline(5).addVirtioMmioDevice(0, 0n, 0))).toBe("CMDLINE_MMIO_SIZE");
    expect(code(() => new Cmdline(5).addVirtioMmioDevice(1, 0n, 0))).toBe("CMDLINE_TOO_LARGE");
    const c = new Cmdline(150);
    c.addVirtioMmioDevice(1, 0n, 1);
    c.addVirtioMmioDevice(2 << 10, 0x100n, 2);
    c.addVirtioMmioDevice(3 << 20, 0x1000n, 3);
    c.addVirtioMmioDevice(4n << 30n, 0x1_0000n, 4, 42);
    expect(c.toString()).toBe(
      "virtio_mmio.device=1@0x0:1 virtio_mmio.device=2K@0x100:2 virtio_mmio.device=3M@0x1000:3 virtio_mmio.device=4G@0x10000:4:42",
    );
  });

  it("loads at an address checked against the end of guest memory", () => {
    const mem = GuestMemoryMmap.fromRanges([{ start: 0n, size: 0x10000 }]);
    const c = new Cmdline(64).insertStr("console=ttyS0");
    expect(loadCmdline(mem, 0x1000n, c)).toBe(13);
    const back = new Uint8Array(14);
    mem.readSlice(back, 0x1000n);
    expect(Buffer.from(back).toString("latin1")).toBe("console=ttyS0\0");
    expect(loadCmdline(mem, 0x10000n - 14n, c)).toBe(13); // ends exactly at the end
    expect(code(() => loadCmdline(mem, 0x10000n - 13n, c))).toBe("OUT_OF_GUEST_MEMORY");
    expect(code(() => loadCmdline(mem, 0x1000n, c, 12))).toBe("CMDLINE_TOO_LARGE");
    mem.close();
  });
});

describe("Cmdline properties (random input)", () => {
  const anyString = fc.string({ unit: "binary", maxLength: 40 });
  it("either accepts or throws a typed error, and never breaks its invariants", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.array(
          fc.oneof(
            fc.tuple(fc.constant("kv"), anyString, anyString),
            fc.tuple(fc.constant("str"), anyString, fc.constant("")),
            fc.tuple(fc.constant("init"), anyString, fc.constant("")),
            fc.tuple(fc.constant("mmio"), fc.nat().map(String), fc.nat().map(String)),
          ),
          { maxLength: 20 },
        ),
        (capacity, ops) => {
          const c = new Cmdline(capacity);
          for (const [op, a, b] of ops) {
            const before = c.toString();
            try {
              if (op === "kv") c.insert(a, b);
              else if (op === "str") c.insertStr(a);
              else if (op === "init") c.insertInitArgs(a);
              else c.addVirtioMmioDevice(BigInt(a), BigInt(b), 5, 1);
            } catch (e) {
              expect(e).toBeInstanceOf(LoaderError);
              expect(c.toString()).toBe(before); // a refused insert changes nothing
            }
            const s = c.toString();
            expect(s.length + 1).toBeLessThanOrEqual(capacity);
            expect(/^[\x20-\x7e]*$/.test(s)).toBe(true);
            expect(c.toBytes()[s.length]).toBe(0);
          }
          // What we built parses back to the same line.
          expect(Cmdline.parse(c.toString(), capacity).toString()).toBe(c.toString());
        },
      ),
      { numRuns: 300 },
    );
  });

  it("round-trips valid key=value pairs", () => {
    const key = fc.stringMatching(/^[a-z_.][a-z0-9_.-]{0,15}$/);
    const val = fc.oneof(
      fc.stringMatching(/^[!#-~]{1,20}$/).filter((v) => !v.includes('"')),
      fc.stringMatching(/^"[ !#-~]{0,20}"$/),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(key, val), { maxLength: 10 }), (pairs) => {
        const c = new Cmdline(4096);
        for (const [k, v] of pairs) c.insert(k, v);
        expect(c.toString()).toBe(pairs.map(([k, v]) => `${k}=${v}`).join(" "));
      }),
    );
  });
});
