import { readFileSync } from "node:fs";
import {
  type GdtEntry,
  gdtEntry,
  Kvm,
  segmentFromGdt,
  type VcpuExit,
  X86_CR0_ET,
  X86_CR0_PE,
} from "@kindling/kvm-ioctls";
import {
  CMDLINE_START,
  Cmdline,
  e820MapFor,
  loadCmdline,
  loadElfKernel,
  writePvhBootInfo,
} from "@kindling/linux-loader";
import { CLOCK_MONOTONIC, EventFd, kick, ThreadTimer } from "@kindling/sys-util";
import { GuestMemoryMmap, registerWithVm } from "@kindling/vm-memory";
import { CmosRtc, CountingTrigger, EventFdTrigger, I8042Device, Serial } from "@kindling/vm-superio";
import { describe, expect, it } from "vitest";
import { debianKernel } from "./helpers.js";

const kvmUnavailable: string | null = (() => {
  try {
    Kvm.open().close();
    return null;
  } catch (e) {
    return `/dev/kvm is not usable here (${(e as Error).message})`;
  }
})();
const kernel = kvmUnavailable ? undefined : debianKernel();
const skipReason = kvmUnavailable ?? (typeof kernel === "string" ? kernel : null);
if (skipReason) console.warn(`skipping the PVH boot test: ${skipReason}`);

const MEM_SIZE = 256 << 20;
const GDT_ADDR = 0x500;
const COM1 = 0x3f8;
// Firecracker's PVH GDT: null, flat 32-bit code (0x08), flat data (0x10), TSS (0x18).
const GDT: GdtEntry[] = [
  { base: 0, limit: 0, access: 0, flags: 0 },
  { base: 0, limit: 0xfffff, access: 0x9b, flags: 0xc },
  { base: 0, limit: 0xfffff, access: 0x93, flags: 0xc },
  { base: 0, limit: 0xfffff, access: 0x8b, flags: 0x8 },
];

interface BootResult {
  stop: "banner-and-cmdline" | "shutdown" | "hlt" | "internal-error" | "time-limit" | "error";
  detail: string;
  exits: number;
  console: string;
}

// KVM_INTERNAL_ERROR_EMULATION (struct kvm_run.emulation_failure): data[0] is `flags`
// (bit 0: instruction bytes present), then `insn_size` (u8) and up to 15 instruction bytes.
function describeInternalError(e: { suberror: number; data: bigint[] }): string {
  if (e.suberror !== 1) return `internal error, suberror ${e.suberror}`;
  if (e.data.length < 3 || (e.data[0] & 1n) === 0n) return "emulation failure";
  const raw = new Uint8Array(16);
  const dv = new DataView(raw.buffer);
  dv.setBigUint64(0, e.data[1], true);
  dv.setBigUint64(8, e.data[2], true);
  const n = Math.min(raw[0], 15);
  const hexBytes = Buffer.from(raw.subarray(1, 1 + n))
    .toString("hex")
    .replace(/(..)/g, "$1 ")
    .trim();
  return `emulation failure at instruction bytes ${hexBytes}`;
}

// Set KINDLING_BOOT_TO_STOP=1 to keep running after the banner until the guest itself stops
// (measured here: ~80 s, on `lock cmpxchg16b`, which this nested KVM cannot emulate).
const RUN_TO_STOP = process.env.KINDLING_BOOT_TO_STOP === "1";

describe.skipIf(skipReason !== null)("PVH boot of Debian's vmlinux on our serial port", () => {
  it("prints the Linux banner and the command line on the 16550A at 0x3f8", { timeout: 600_000 }, async () => {
    const k = kernel as Exclude<typeof kernel, string | undefined>;
    const vmlinux = new Uint8Array(readFileSync(k.vmlinuxPath));
    const kvm = Kvm.open();
    const vm = kvm.createVm();
    const mem = GuestMemoryMmap.fromRanges([{ start: 0n, size: MEM_SIZE }]);
    const irqEvt = new EventFd(0, 0o4000 /* EFD_NONBLOCK */);
    const result: BootResult = { stop: "error", detail: "", exits: 0, console: "" };
    let timer: ThreadTimer | undefined;
    try {
      vm.setTssAddress(0xfffb_d000);
      vm.createIrqChip();
      vm.createPit2();
      registerWithVm(mem, vm);
      vm.registerIrqfd(irqEvt, 4);

      const loaded = loadElfKernel(mem, vmlinux);
      expect(loaded.pvhBootCapable).toBe(true);
      const cmdline = new Cmdline(2048)
        .insertStr("console=ttyS0 earlyprintk=serial,ttyS0,115200")
        .insert("reboot", "k")
        .insert("panic", "-1")
        .insertStr("nokaslr noapic noacpi");
      loadCmdline(mem, CMDLINE_START, cmdline);
      const startInfo = writePvhBootInfo(mem, { cmdlineAddr: CMDLINE_START, memmap: e820MapFor(mem) });

      const out: number[] = [];
      const serial = new Serial(new EventFdTrigger(irqEvt), { write: (c: Uint8Array) => out.push(...c) });
      const i8042 = new I8042Device(new CountingTrigger());
      const rtc = new CmosRtc();

      for (let i = 0; i < GDT.length; i++) mem.writeU64(gdtEntry(GDT[i]), BigInt(GDT_ADDR + i * 8));
      const vcpu = vm.createVcpu(0);
      // A periodic kick makes KVM_RUN return (as Intr) at least once a second, so the loop can
      // check its budget and let the test runner's RPC through even while the guest computes.
      vcpu.makeKickable();
      timer = new ThreadTimer(CLOCK_MONOTONIC);
      timer.set(1_000_000_000, 1_000_000_000);
      vcpu.setCpuid2(kvm.supportedCpuid());
      const sregs = vcpu.getSregs();
      const code = segmentFromGdt(GDT[1], 1);
      const data = segmentFromGdt(GDT[2], 2);
      Object.assign(sregs, {
        cs: code,
        ds: data,
        es: data,
        fs: data,
        gs: data,
        ss: data,
        tr: segmentFromGdt(GDT[3], 3),
        gdt: { base: BigInt(GDT_ADDR), limit: GDT.length * 8 - 1, padding: [] },
        cr0: X86_CR0_PE | X86_CR0_ET,
        cr3: 0n,
        cr4: 0n,
        efer: 0n,
      });
      vcpu.setSregs(sregs);
      const regs = vcpu.getRegs();
      Object.assign(regs, { rip: loaded.pvhEntry!, rbx: startInfo, rflags: 2n, rsp: 0n });
      vcpu.setRegs(regs);

      const banner = "Linux version";
      const cmdText = `Command line: ${cmdline.toString()}`;
      const started = Date.now();
      const BUDGET_MS = 400_000;
      let lastYield = Date.now();
      const text = () => Buffer.from(out).toString("latin1");
      let lastLen = 0;
      for (;;) {
        let e: VcpuExit;
        try {
          e = vcpu.run();
        } catch (err) {
          result.stop = "error";
          result.detail = (err as Error).message;
          break;
        }
        result.exits++;
        if (e.kind === "IoOut") {
          const v = e.data[0];
          if (e.port >= COM1 && e.port < COM1 + 8) serial.write(e.port - COM1, v);
          else if (e.port === 0x60 || e.port === 0x64) i8042.write(e.port - 0x60, v);
          else if (e.port === 0x70 || e.port === 0x71) rtc.write(e.port - 0x70, v);
          if (out.length !== lastLen && out[out.length - 1] === 0x0a) {
            lastLen = out.length;
            const t = text();
            if (!RUN_TO_STOP && t.includes(banner) && t.includes(cmdText)) {
              result.stop = "banner-and-cmdline";
              break;
            }
          }
        } else if (e.kind === "IoIn") {
          let v = 0xff;
          if (e.port >= COM1 && e.port < COM1 + 8) v = serial.read(e.port - COM1);
          else if (e.port === 0x60 || e.port === 0x64) v = i8042.read(e.port - 0x60);
          else if (e.port === 0x70 || e.port === 0x71) v = rtc.read(e.port - 0x70);
          e.data.fill(0xff);
          e.data[0] = v;
        } else if (e.kind === "MmioRead") {
          e.data.fill(0);
        } else if (e.kind === "Intr") {
          vcpu.setKvmImmediateExit(false); // set by the kick's signal handler
        } else if (e.kind === "MmioWrite" || e.kind === "IrqWindowOpen") {
          // nothing to do
        } else if (e.kind === "Hlt") {
          result.stop = "hlt";
          break;
        } else if (e.kind === "Shutdown") {
          result.stop = "shutdown";
          break;
        } else if (e.kind === "InternalError") {
          result.stop = "internal-error";
          result.detail = describeInternalError(e);
          break;
        } else {
          result.stop = "error";
          result.detail = JSON.stringify(e, (_k, v) => (typeof v === "bigint" ? v.toString(16) : v));
          break;
        }
        if (e.kind === "Intr" || (result.exits & 0x3f) === 0) {
          const now = Date.now();
          if (now - started > BUDGET_MS) {
            result.stop = "time-limit";
            break;
          }
          // Let the test runner's RPC breathe: KVM_RUN is synchronous and guest ring 0 is slow.
          if (now - lastYield > 1000) {
            await new Promise((r) => setImmediate(r));
            lastYield = Date.now();
          }
        }
      }
      result.console = text();
      timer.delete();
      timer = undefined;
      kick.setTarget(null);
      vcpu.close();
      console.log(
        `PVH boot: stop=${result.stop} ${result.detail} exits=${result.exits} after ${((Date.now() - started) / 1000).toFixed(1)} s; console:\n${result.console.slice(0, 1500)}`,
      );
    } finally {
      timer?.delete();
      kick.setTarget(null);
      vm.close();
      kvm.close();
      irqEvt.close();
      mem.close();
    }
    expect(result.console).toMatch(/Linux version 6\.\d+\.\d+/);
    expect(result.console).toContain("Command line: console=ttyS0 earlyprintk=serial,ttyS0,115200 reboot=k panic=-1");
    if (RUN_TO_STOP) {
      // The guest's own stop is reported as a value, not an exception.
      expect(["internal-error", "shutdown", "hlt", "time-limit"]).toContain(result.stop);
    } else {
      expect(result.stop).toBe("banner-and-cmdline");
    }
  });
});
