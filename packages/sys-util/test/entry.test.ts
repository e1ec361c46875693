import { readFileSync } from "node:fs";
import * as main from "@kindling/sys-util";
import * as unsafe from "@kindling/sys-util/unsafe";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

const {
  close,
  ioc,
  IOC_NONE,
  IOC_READ,
  IOC_WRITE,
  ioctl,
  ioctlPointerSize,
  LEGACY_POINTER_IOCTLS,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_PRIVATE,
  MmapRegion,
  PROT_READ,
  SysError,
  UsageError,
} = main;

// The raw escape hatches live behind "@kindling/sys-util/unsafe" only.
describe("entry points", () => {
  it("the main entry exports no raw hatch", () => {
    for (const name of ["native", "syscall", "syscallRaw", "ioctlRaw", "ioctlUnchecked", "addressOf", "prctl"]) {
      expect(main, name).not.toHaveProperty(name);
    }
  });

  it("the unsafe entry has them, sharing the main entry's error classes", () => {
    for (const name of ["native", "syscall", "syscallRaw", "ioctlRaw", "ioctlUnchecked", "addressOf", "prctl"]) {
      expect(unsafe, name).toHaveProperty(name);
    }
    expect(() => unsafe.syscall(3, -1)).toThrowError(SysError); // close(-1): EBADF
    expect(unsafe.syscallRaw(3, -1)).toBe(-9);
  });

  it("package.json declares ./unsafe with the same conditions as .", () => {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
    expect(Object.keys(pkg.exports["./unsafe"])).toEqual(Object.keys(pkg.exports["."]));
    expect(pkg.exports["./unsafe"]["kindling-source"]).toBe("./src/unsafe.ts");
  });
});

const FIONREAD = 0x541b;
const TIOCGWINSZ = 0x5413;

describe("the checked ioctl", () => {
  it("takes a buffer of exactly _IOC_SIZE bytes for a request that encodes one", () => {
    const req = ioc(IOC_READ | IOC_WRITE, 0x21, 0, 80); // SECCOMP_IOCTL_NOTIF_RECV's shape
    expect(() => ioctl(-1, req, new Uint8Array(79))).toThrowError(UsageError);
    expect(() => ioctl(-1, req, new Uint8Array(81))).toThrowError(UsageError);
    expect(() => ioctl(-1, req, 0x7fff0000)).toThrowError(/pass a buffer, not a number/);
    expect(() => ioctl(-1, req, 0x7fff0000n)).toThrowError(UsageError);
    expect(() => ioctl(-1, req)).toThrowError(UsageError);
    expect(() => ioctl(-1, req, new Uint8Array(80))).toThrowError(expect.objectContaining({ code: "EBADF" }));
  });

  it("knows the legacy tty/file requests that take a pointer", () => {
    expect(ioctlPointerSize(FIONREAD)).toBe(4);
    expect(() => ioctl(-1, TIOCGWINSZ, 0x7fff0000)).toThrowError(UsageError);
    expect(() => ioctl(-1, TIOCGWINSZ, new Uint8Array(4))).toThrowError(UsageError);
    const [r, w] = pipeFds();
    try {
      const n = new Int32Array(1);
      expect(ioctl(r, FIONREAD, n)).toBe(0);
      expect(n[0]).toBe(0);
    } finally {
      close(r);
      close(w);
    }
  });

  it("takes numbers by value, never a buffer, for a request that encodes no size", () => {
    const req = ioc(IOC_NONE, 0xae, 0x03, 0); // KVM_CHECK_EXTENSION's shape
    expect(() => ioctl(-1, req, new Uint8Array(8))).toThrowError(/takes a number, not a buffer/);
    expect(() => ioctl(-1, req, 5)).toThrowError(expect.objectContaining({ code: "EBADF" }));
  });

  it("refuses requests outside 32 bits instead of letting the kernel truncate them", () => {
    expect(() => ioctl(-1, 2n ** 32n + 0x1234n)).toThrowError(UsageError);
    expect(() => ioctl(-1, 0.5)).toThrowError(UsageError);
    expect(() => ioctl(-1, ioc(IOC_READ, 0xae, 1, 8) - 2 ** 32)).toThrowError(UsageError); // signed form, needs a buffer
  });

  it("property: any request and argument is either run by the kernel or refused with a typed error", () => {
    const request = fc.oneof(
      fc
        .record({
          dir: fc.constantFrom(IOC_NONE, IOC_READ, IOC_WRITE, IOC_READ | IOC_WRITE),
          type: fc.nat(255),
          nr: fc.nat(255),
          size: fc.oneof(fc.nat(64), fc.nat((1 << 14) - 1)),
        })
        .map(({ dir, type, nr, size }) => ioc(dir, type, nr, size)),
      fc.constantFrom(...LEGACY_POINTER_IOCTLS.keys()),
      fc.nat(0xffffffff),
      fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }),
    );
    const arg = fc.oneof(
      fc.constant(undefined),
      fc.integer(),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      fc.nat(256).map((n) => new Uint8Array(n)),
      fc.nat(64).map((n) => new ArrayBuffer(n)),
      fc.nat(16).map((n) => new DataView(new ArrayBuffer(n * 4))),
    );
    fc.assert(
      fc.property(request, arg, (req, a) => {
        // fd -1: whatever passes the checks reaches the kernel, which answers EBADF and touches nothing.
        try {
          ioctl(-1, req, a);
          expect.unreachable("ioctl on fd -1 returned");
        } catch (e) {
          if (e instanceof SysError) {
            expect(e.code).toBe("EBADF");
            const r = Number(BigInt.asUintN(32, BigInt(req)));
            const size = ioctlPointerSize(r);
            const isBuffer = a instanceof ArrayBuffer || ArrayBuffer.isView(a);
            // It reached the kernel only in a shape the request allows.
            if (size === undefined) expect(isBuffer).toBe(false);
            else expect(isBuffer && a.byteLength === size).toBe(true);
          } else {
            expect(e).toBeInstanceOf(UsageError);
            expect((e as InstanceType<typeof UsageError>).code).toBe("EINVAL");
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe("the checked ioctl on a real fd", () => {
  it("property: FIONREAD on a pipe runs with a 4-byte buffer and is refused with any other", () => {
    const [r, w] = pipeFds();
    try {
      fc.assert(
        fc.property(fc.nat(16), fc.nat(8), (len, pending) => {
          const data = new Uint8Array(pending);
          if (pending > 0) main.pwrite(w, data);
          const buf = new Uint8Array(len);
          if (len === 4) {
            expect(ioctl(r, FIONREAD, buf)).toBe(0);
            expect(new DataView(buf.buffer).getInt32(0, true)).toBe(pending);
          } else {
            expect(() => ioctl(r, FIONREAD, buf)).toThrowError(UsageError);
          }
          if (pending > 0) main.pread(r, new Uint8Array(pending));
        }),
      );
    } finally {
      close(r);
      close(w);
    }
  });
});

describe("isMapped", () => {
  it("is true only inside one live mapping", () => {
    const m = MmapRegion.anonymous(8192);
    expect(main.isMapped(m.hostAddress, 8192)).toBe(true);
    expect(main.isMapped(m.hostAddress + 4096n, 4096)).toBe(true);
    expect(main.isMapped(m.hostAddress + 4096n, 4097)).toBe(false);
    expect(main.isMapped(m.hostAddress - 1n, 2)).toBe(false);
    expect(main.isMapped(m.hostAddress, 0)).toBe(false);
    expect(main.isMapped(2n ** 64n - 1n, 2)).toBe(false);
    m.unmap();
    expect(main.isMapped(m.hostAddress, 4096)).toBe(false);
  });
});

describe("MmapRegion.map", () => {
  it("refuses MAP_FIXED: it has no address, the mapping would land at 0 over whatever is there", () => {
    for (const fixed of [MAP_FIXED, MAP_FIXED_NOREPLACE]) {
      expect(() => MmapRegion.map(4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | fixed)).toThrowError(UsageError);
    }
  });
});

function pipeFds(): [number, number] {
  const fds = new Int32Array(2);
  unsafe.syscall(293, fds, 0); // pipe2
  return [fds[0], fds[1]];
}
