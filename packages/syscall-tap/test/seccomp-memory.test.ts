import { MemoryFault, type ProgramMemory, SeccompPlatform } from "@kindling/syscall-tap";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CaptureServer, compile, hasCompiler } from "./seccomp-helpers.js";

const cc = hasCompiler("cc");
if (!cc) console.warn("seccomp memory tests skipped: no C compiler `cc`");

/**
 * The program maps [buf, buf+3 pages) with a known pattern, makes the middle
 * page PROT_NONE... no: unmaps the page after it and makes the first page
 * read-only, then calls syscall(1000, buf). The server checks the memory API
 * against that layout with hostile addresses and lengths.
 */
describe.skipIf(!cc)("ProcessMemory over a live child (property)", () => {
  it("returns the right bytes or throws MemoryFault, never anything else", () => {
    const prog = compile(
      "memlayout",
      `#include <sys/mman.h>
#include <unistd.h>
int main(void) {
  unsigned char *p = mmap(0, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  for (int i = 0; i < 3 * 4096; i++) p[i] = (unsigned char)(i * 7 + 3);
  p[4096 + 100] = 0;                  /* a NUL inside page 1 */
  munmap(p + 3 * 4096, 4096);         /* page 3 unmapped */
  mprotect(p, 4096, PROT_READ);       /* page 0 read-only */
  return syscall(1000, p) == 0 ? 0 : 1;
}
`,
    );
    const PAGE = 4096;
    let checked = 0;
    const server = new CaptureServer();
    server.hook = (task, ev) => {
      if (ev.nr !== 1000) return undefined;
      const m: ProgramMemory = task.memory;
      const base = ev.arg(0);
      const expectedByte = (a: number) => ((a - base) * 7 + 3) & 0xff;
      const model = (a: number) => (a === base + PAGE + 100 ? 0 : expectedByte(a));
      const mapped = (a: number, len: number) => a >= base && a + len <= base + 3 * PAGE;
      const writable = (a: number, len: number) => a >= base + PAGE && a + len <= base + 3 * PAGE;
      const addr = fc.oneof(
        fc.integer({ min: base - 2 * PAGE, max: base + 4 * PAGE }),
        fc.constantFrom(0, 1, -1, 2 ** 47, 2 ** 53 - 1, 2 ** 64, Number.NaN, Number.POSITIVE_INFINITY, 0.5),
      );
      const len = fc.oneof(fc.integer({ min: 0, max: 3 * PAGE + 10 }), fc.constantFrom(-1, 2 ** 40, Number.NaN, 1.5));
      fc.assert(
        fc.property(addr, len, (a, l) => {
          checked++;
          const ok =
            Number.isSafeInteger(a) && Number.isSafeInteger(l) && l >= 0 && a >= 0 && mapped(a, l) && (l > 0 || a > 0);
          try {
            const got = m.read(a, l);
            expect(ok || l === 0).toBe(true);
            for (let i = 0; i < got.length; i += 97) expect(got[i]).toBe(model(a + i));
            expect(got.length).toBe(l);
          } catch (e) {
            expect(e).toBeInstanceOf(MemoryFault);
            expect(ok).toBe(false);
          }
          try {
            const v = m.readU32(a);
            expect(mapped(a, 4)).toBe(true);
            expect(v & 0xff).toBe(model(a));
          } catch (e) {
            expect(e).toBeInstanceOf(MemoryFault);
          }
          try {
            const s = m.readCString(a, Number.isSafeInteger(l) && l >= 0 ? l : 64);
            if (s !== null) for (let i = 0; i < s.length; i++) expect(s[i]).toBe(model(a + i));
          } catch (e) {
            expect(e).toBeInstanceOf(MemoryFault);
          }
          expect(typeof m.contains(a, l)).toBe("boolean");
        }),
        { numRuns: 400 },
      );
      // Writes: only the writable pages take them; read-only and unmapped ones fault.
      fc.assert(
        fc.property(
          fc.integer({ min: base - PAGE, max: base + 4 * PAGE }),
          fc.integer({ min: 1, max: 300 }),
          (a, l) => {
            const data = new Uint8Array(l).fill(0xab);
            try {
              m.write(a, data);
              expect(writable(a, l)).toBe(true);
              expect(m.read(a, l)).toEqual(data);
            } catch (e) {
              expect(e).toBeInstanceOf(MemoryFault);
              expect(writable(a, l)).toBe(false);
            }
          },
        ),
        { numRuns: 200 },
      );
      expect(m.contains(base, 3 * PAGE)).toBe(true);
      expect(m.contains(base, 3 * PAGE + 1)).toBe(false);
      return 0;
    };
    const exit = SeccompPlatform.spawn({ file: prog, argv: [prog], env: [] }).run(server);
    expect(checked).toBeGreaterThan(0);
    expect(exit.exitCode).toBe(0);
  });
});
