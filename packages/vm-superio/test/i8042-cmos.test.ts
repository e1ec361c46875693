import {
  CMOS_DATA_OFFSET,
  CMOS_INDEX_OFFSET,
  CmosRtc,
  CountingTrigger,
  I8042_CMD_READ_CTR,
  I8042_CMD_RESET_CPU,
  I8042_CMD_SELF_TEST,
  I8042_CMD_WRITE_CTR,
  I8042_CMD_WRITE_OUTP,
  I8042_COMMAND_OFFSET,
  I8042_DATA_OFFSET,
  I8042_STATUS_OUTPUT_FULL,
  I8042Device,
  RTC_CENTURY,
  RTC_DAY_OF_MONTH,
  RTC_DAY_OF_WEEK,
  RTC_HOURS,
  RTC_MINUTES,
  RTC_MONTH,
  RTC_REG_A,
  RTC_REG_A_UIP,
  RTC_REG_B,
  RTC_REG_B_24H,
  RTC_REG_B_DM_BINARY,
  RTC_REG_B_SET,
  RTC_REG_D,
  RTC_SECONDS,
  RTC_YEAR,
  SuperIoError,
} from "@kindling/vm-superio";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

describe("I8042Device", () => {
  it("fires reset on 0xFE at offset 4 only", () => {
    const reset = new CountingTrigger();
    const i = new I8042Device(reset);
    i.write(I8042_COMMAND_OFFSET, I8042_CMD_RESET_CPU + 1);
    i.write(I8042_COMMAND_OFFSET + 1, I8042_CMD_RESET_CPU);
    i.write(I8042_DATA_OFFSET, I8042_CMD_RESET_CPU);
    expect(reset.take()).toBe(0);
    i.write(I8042_COMMAND_OFFSET, I8042_CMD_RESET_CPU);
    expect(reset.take()).toBe(1);
  });

  it("answers Linux's probe: command byte, self test, output port reset", () => {
    const reset = new CountingTrigger();
    const irq1 = new CountingTrigger();
    const i = new I8042Device(reset, irq1);
    expect(i.read(I8042_COMMAND_OFFSET) & I8042_STATUS_OUTPUT_FULL).toBe(0);
    i.write(I8042_COMMAND_OFFSET, I8042_CMD_READ_CTR);
    expect(i.read(I8042_COMMAND_OFFSET) & I8042_STATUS_OUTPUT_FULL).toBe(1);
    const ctr = i.read(I8042_DATA_OFFSET);
    expect(ctr & 0x01).toBe(1); // keyboard interrupt enabled
    expect(i.read(I8042_COMMAND_OFFSET) & I8042_STATUS_OUTPUT_FULL).toBe(0);
    i.write(I8042_COMMAND_OFFSET, I8042_CMD_WRITE_CTR);
    i.write(I8042_DATA_OFFSET, 0x45);
    expect(i.commandByte).toBe(0x45);
    i.write(I8042_COMMAND_OFFSET, I8042_CMD_SELF_TEST);
    expect(i.read(I8042_DATA_OFFSET)).toBe(0x55);
    i.write(I8042_DATA_OFFSET, 0xff); // keyboard reset command: acknowledged
    expect(i.read(I8042_DATA_OFFSET)).toBe(0xfa);
    expect(irq1.take()).toBe(1);
    i.write(I8042_COMMAND_OFFSET, I8042_CMD_WRITE_OUTP);
    i.write(I8042_DATA_OFFSET, 0x00); // pull the CPU reset line
    expect(reset.take()).toBe(1);
  });

  it("queues Ctrl-Alt-Del scancodes with IRQ 1", () => {
    const irq1 = new CountingTrigger();
    const i = new I8042Device(new CountingTrigger(), irq1);
    expect(i.sendCtrlAltDel()).toBe(8);
    expect(irq1.count).toBe(8);
    const got: number[] = [];
    while (i.read(I8042_COMMAND_OFFSET) & I8042_STATUS_OUTPUT_FULL) got.push(i.read(I8042_DATA_OFFSET));
    expect(got).toEqual([0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d]);
  });

  it("saves and restores its state, refusing malformed ones", () => {
    const i = new I8042Device(new CountingTrigger());
    i.write(I8042_COMMAND_OFFSET, I8042_CMD_SELF_TEST);
    i.write(I8042_COMMAND_OFFSET, I8042_CMD_WRITE_CTR); // waits for its data byte
    const st = JSON.parse(JSON.stringify(i.state()));
    const r = I8042Device.fromState(st, new CountingTrigger());
    expect(r.state()).toEqual(i.state());
    r.write(I8042_DATA_OFFSET, 0x47);
    expect(r.commandByte).toBe(0x47);
    expect(r.read(I8042_DATA_OFFSET)).toBe(0x55);
    expect(() => I8042Device.fromState({ ...st, buffer: new Array(17).fill(0) }, new CountingTrigger())).toThrow(
      expect.objectContaining({ code: "INVALID_STATE", field: "buffer" }),
    );
    expect(() => I8042Device.fromState({ ...st, pendingCommand: 0x20 }, new CountingTrigger())).toThrow(
      expect.objectContaining({ field: "pendingCommand" }),
    );
  });

  it("never throws on hostile accesses and keeps reads in byte range", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: -1, max: 8 }), fc.integer({ min: 0, max: 255 })), {
          maxLength: 300,
        }),
        (ops) => {
          const i = new I8042Device(new CountingTrigger(), new CountingTrigger());
          for (const [isWrite, off, v] of ops) {
            if (isWrite) i.write(off, v);
            else {
              const r = i.read(off);
              expect(r >= 0 && r <= 255).toBe(true);
            }
          }
        },
      ),
    );
  });
});

function reg(rtc: CmosRtc, index: number, nmi = false): number {
  rtc.write(CMOS_INDEX_OFFSET, index | (nmi ? 0x80 : 0));
  return rtc.read(CMOS_DATA_OFFSET);
}
function setReg(rtc: CmosRtc, index: number, v: number): void {
  rtc.write(CMOS_INDEX_OFFSET, index);
  rtc.write(CMOS_DATA_OFFSET, v);
}

describe("CmosRtc", () => {
  // 2026-11-26 21:07:09.500 UTC, a Thursday.
  const T = Date.UTC(2026, 10, 26, 21, 7, 9, 500);

  it("reads the host time in BCD, 24-hour, by default", () => {
    const rtc = new CmosRtc({ now: () => T });
    expect(reg(rtc, RTC_SECONDS)).toBe(0x09);
    expect(reg(rtc, RTC_MINUTES)).toBe(0x07);
    expect(reg(rtc, RTC_HOURS)).toBe(0x21);
    expect(reg(rtc, RTC_DAY_OF_WEEK)).toBe(0x05); // Sunday = 1
    expect(reg(rtc, RTC_DAY_OF_MONTH)).toBe(0x26);
    expect(reg(rtc, RTC_MONTH)).toBe(0x11);
    expect(reg(rtc, RTC_YEAR)).toBe(0x26);
    expect(reg(rtc, RTC_CENTURY)).toBe(0x20);
    expect(reg(rtc, RTC_REG_B)).toBe(RTC_REG_B_24H);
    expect(reg(rtc, RTC_REG_D)).toBe(0x80);
  });

  it("switches to binary and 12-hour modes", () => {
    const rtc = new CmosRtc({ now: () => T });
    setReg(rtc, RTC_REG_B, RTC_REG_B_DM_BINARY | RTC_REG_B_24H);
    expect(reg(rtc, RTC_HOURS)).toBe(21);
    expect(reg(rtc, RTC_MONTH)).toBe(11);
    setReg(rtc, RTC_REG_B, RTC_REG_B_DM_BINARY);
    expect(reg(rtc, RTC_HOURS)).toBe(0x80 | 9); // 9 PM
    setReg(rtc, RTC_REG_B, 0);
    expect(reg(rtc, RTC_HOURS)).toBe(0x80 | 0x09);
  });

  it("sets UIP only in the last 244 µs of a second", () => {
    let now = T;
    const rtc = new CmosRtc({ now: () => now });
    expect(reg(rtc, RTC_REG_A) & RTC_REG_A_UIP).toBe(0);
    now = Date.UTC(2026, 10, 26, 21, 7, 9) + 999.9;
    expect(reg(rtc, RTC_REG_A) & RTC_REG_A_UIP).toBe(RTC_REG_A_UIP);
    now = Date.UTC(2026, 10, 26, 21, 7, 9) + 999.7;
    expect(reg(rtc, RTC_REG_A) & RTC_REG_A_UIP).toBe(0);
    expect(reg(rtc, RTC_REG_A) & 0x7f).toBe(0x26);
  });

  it("latches the NMI mask from the index port", () => {
    const rtc = new CmosRtc({ now: () => T });
    reg(rtc, RTC_SECONDS, true);
    expect(rtc.nmiMasked).toBe(true);
    expect(rtc.index).toBe(RTC_SECONDS);
    reg(rtc, RTC_SECONDS, false);
    expect(rtc.nmiMasked).toBe(false);
  });

  it("lets the guest set the clock under SET and then keeps it running", () => {
    let now = T;
    const rtc = new CmosRtc({ now: () => now });
    setReg(rtc, RTC_REG_B, RTC_REG_B_SET | RTC_REG_B_24H);
    setReg(rtc, RTC_YEAR, 0x99);
    setReg(rtc, RTC_CENTURY, 0x19);
    setReg(rtc, RTC_MONTH, 0x12);
    setReg(rtc, RTC_DAY_OF_MONTH, 0x31);
    setReg(rtc, RTC_HOURS, 0x23);
    setReg(rtc, RTC_MINUTES, 0x59);
    setReg(rtc, RTC_SECONDS, 0x58);
    now += 5000; // frozen while SET
    expect(reg(rtc, RTC_SECONDS)).toBe(0x58);
    setReg(rtc, RTC_REG_B, RTC_REG_B_24H);
    now += 2000;
    expect(reg(rtc, RTC_YEAR)).toBe(0x00);
    expect(reg(rtc, RTC_CENTURY)).toBe(0x20);
    expect(reg(rtc, RTC_SECONDS)).toBe(0x00);
    expect(new Date(rtc.guestTimeMs()).toISOString()).toBe("2000-01-01T00:00:00.000Z");
  });

  it("keeps CMOS RAM and round-trips its state", () => {
    const rtc = new CmosRtc({ now: () => T });
    setReg(rtc, 0x40, 0xab);
    expect(reg(rtc, 0x40)).toBe(0xab);
    rtc.setRamByte(0x34, 0x12);
    const st = JSON.parse(JSON.stringify(rtc.state()));
    const r = CmosRtc.fromState(st, { now: () => T });
    expect(reg(r, 0x40)).toBe(0xab);
    expect(reg(r, 0x34)).toBe(0x12);
    expect(() => rtc.setRamByte(RTC_SECONDS, 1)).toThrow(SuperIoError);
    expect(() => CmosRtc.fromState({ ...st, ram: [1] })).toThrow(expect.objectContaining({ field: "ram" }));
  });

  it("fromState refuses hostile states with typed errors only", () => {
    fc.assert(
      fc.property(
        fc.record({
          index: fc.oneof(fc.integer({ min: -2, max: 130 }), fc.double()),
          nmiMasked: fc.oneof(fc.boolean(), fc.integer()),
          ram: fc.oneof(
            fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 128, maxLength: 128 }),
            fc.array(fc.integer({ min: -1, max: 256 }), { maxLength: 130 }),
          ),
          offsetMs: fc.oneof(fc.double(), fc.integer()),
          frozenMs: fc.oneof(fc.constant(null), fc.double()),
        }),
        (st) => {
          try {
            const rtc = CmosRtc.fromState(st as never, { now: () => T });
            expect(rtc.state().ram).toEqual(st.ram);
            const r = reg(rtc, RTC_SECONDS);
            expect(r >= 0 && r <= 255).toBe(true);
          } catch (e) {
            expect(e).toBeInstanceOf(SuperIoError);
            expect((e as SuperIoError).code).toBe("INVALID_STATE");
          }
        },
      ),
    );
  });

  it("never throws on hostile accesses and reads bytes", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: -1, max: 3 }), fc.integer({ min: 0, max: 255 })), {
          maxLength: 300,
        }),
        (ops) => {
          const rtc = new CmosRtc({ now: () => T });
          for (const [isWrite, off, v] of ops) {
            if (isWrite) rtc.write(off, v);
            else {
              const r = rtc.read(off);
              expect(Number.isInteger(r) && r >= 0 && r <= 255).toBe(true);
            }
          }
          expect(Number.isFinite(rtc.guestTimeMs())).toBe(true);
        },
      ),
    );
  });
});
