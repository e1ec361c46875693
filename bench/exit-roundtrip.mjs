// The kvm platform's system call round trip (ring 3 `syscall` → shim `out` →
// host → registers and segments through sync regs → ring 3), driven from
// TypeScript (the real KvmPlatform loop) and from C (the same guest image and
// protocol, no JavaScript), measured in one run. Prints a JSON result.
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { KvmPlatform, Resume, SHIM_ADDR, TSS_ADDR } from "@kindling/syscall-tap";

const MEMORY = 16 << 20;
const CODE = 0x400000;
const here = fileURLToPath(new URL(".", import.meta.url));

function guestCode(iterations) {
  const n = Buffer.alloc(4);
  n.writeUInt32LE(iterations);
  // biome-ignore format: machine code
  return Uint8Array.from([
    0xbb, ...n,                   // mov ebx, iterations
    0xb8, 0x6e, 0x00, 0x00, 0x00, // loop: mov eax, 110 (getppid)
    0x0f, 0x05,                   // syscall
    0xff, 0xcb,                   // dec ebx
    0x75, 0xf5,                   // jnz loop
    0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60 (exit)
    0x0f, 0x05,                   // syscall
  ]);
}

const server = {
  calls: 0,
  onSyscall(_t, ev, o) {
    if (ev.nr === 60) {
      o.resume = Resume.Exit;
      return 0;
    }
    this.calls++;
    return 1;
  },
  onFault(_t, ev) {
    throw new Error(`fault ${ev.vector}`);
  },
};

export function measureTs(iterations) {
  const p = KvmPlatform.create({ memorySize: MEMORY });
  p.memory.write(CODE, guestCode(iterations));
  p.start(CODE, MEMORY - 4096);
  server.calls = 0;
  const t0 = process.hrtime.bigint();
  const r = p.run(server);
  const ns = Number(process.hrtime.bigint() - t0);
  if (r.kind !== "exited" || server.calls !== iterations) throw new Error(`TS run: ${JSON.stringify(r)}`);
  const image = p.guestMemory.regions()[0].bytes.slice(0, 8 << 20);
  p.close();
  return { nsPerExit: ns / iterations, image };
}

export function buildC() {
  const dir = mkdtempSync(join(tmpdir(), "kindling-bench-"));
  const exe = join(dir, "exit-roundtrip");
  execFileSync("cc", ["-O2", "-o", exe, join(here, "c", "exit-roundtrip.c")]);
  return { dir, exe };
}

export function measureC(exe, imagePath, iterations) {
  const out = execFileSync(
    exe,
    [imagePath, String(MEMORY), String(CODE), String(MEMORY - 4096), "0x1000", "107", String(iterations)],
    { encoding: "utf8" },
  );
  const [exits, ns] = out.trim().split(" ").map(Number);
  if (exits !== iterations) throw new Error(`C run made ${exits} exits`);
  return ns;
}

export function exitRoundTrip({ iterations = 20000, rounds = 5 } = {}) {
  void SHIM_ADDR;
  void TSS_ADDR;
  const { dir, exe } = buildC();
  const ts = [];
  const c = [];
  let image;
  for (let i = 0; i < rounds; i++) {
    const r = measureTs(iterations);
    ts.push(r.nsPerExit);
    if (!image) {
      image = join(dir, "image.bin");
      writeFileSync(image, r.image);
    }
    c.push(measureC(exe, image, iterations));
  }
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  return { iterations, rounds, tsNs: median(ts), cNs: median(c), ratio: median(ts) / median(c), tsAll: ts, cAll: c };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(JSON.stringify(exitRoundTrip({ iterations: Number(process.argv[2] ?? 20000) }), null, 2));
}
