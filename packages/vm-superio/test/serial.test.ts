import { PassThrough } from "node:stream";
import {
  CountingTrigger,
  DATA_OFFSET,
  defaultSerialState,
  EventFdTrigger,
  FCR_FLUSH_IN_BIT,
  FCR_OFFSET,
  FIFO_SIZE,
  IER_OFFSET,
  IER_RDA_BIT,
  IER_THR_EMPTY_BIT,
  IIR_NONE_BIT,
  IIR_OFFSET,
  IIR_RDA_BIT,
  IIR_THR_EMPTY_BIT,
  LCR_DLAB_BIT,
  LCR_OFFSET,
  LSR_DATA_READY_BIT,
  LSR_EMPTY_THR_BIT,
  LSR_IDLE_BIT,
  LSR_OFFSET,
  MCR_DTR_BIT,
  MCR_LOOP_BIT,
  MCR_OFFSET,
  MCR_OUT1_BIT,
  MCR_OUT2_BIT,
  MCR_RTS_BIT,
  MSR_CTS_BIT,
  MSR_DCD_BIT,
  MSR_DSR_BIT,
  MSR_OFFSET,
  MSR_RI_BIT,
  SCR_OFFSET,
  Serial,
  type SerialState,
  SuperIoError,
} from "@kindling/vm-superio";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

class Collector {
  bytes: number[] = [];
  write(chunk: Uint8Array): boolean {
    this.bytes.push(...chunk);
    return true;
  }
  text(): string {
    return Buffer.from(this.bytes).toString("latin1");
  }
}

function events() {
  const c = { bufferRead: 0, outByte: 0, txLostByte: 0, inBufferEmpty: 0 };
  return {
    c,
    ev: {
      bufferRead: () => c.bufferRead++,
      outByte: () => c.outByte++,
      txLostByte: () => c.txLostByte++,
      inBufferEmpty: () => c.inBufferEmpty++,
    },
  };
}

describe("Serial defaults", () => {
  it("resets like a 16550A", () => {
    const s = new Serial(new CountingTrigger());
    expect(s.read(LSR_OFFSET)).toBe(LSR_EMPTY_THR_BIT | LSR_IDLE_BIT);
    expect(s.read(MCR_OFFSET)).toBe(MCR_OUT2_BIT);
    expect(s.read(MSR_OFFSET)).toBe(MSR_DSR_BIT | MSR_CTS_BIT | MSR_DCD_BIT);
    expect(s.read(LCR_OFFSET)).toBe(0x03);
    expect(s.read(IER_OFFSET)).toBe(0);
    expect(s.read(IIR_OFFSET)).toBe(0xc0 | IIR_NONE_BIT); // FIFO bits: a 16550A for Linux
    expect(s.baudDivisor).toBe(12);
    expect(s.fifoCapacity).toBe(FIFO_SIZE);
    expect(s.state()).toEqual(defaultSerialState());
  });

  it("keeps the divisor latch behind DLAB", () => {
    const s = new Serial(new CountingTrigger());
    s.write(LCR_OFFSET, LCR_DLAB_BIT);
    expect(s.read(DATA_OFFSET)).toBe(0x0c);
    expect(s.read(IER_OFFSET)).toBe(0x00);
    s.write(DATA_OFFSET, 0x01);
    s.write(IER_OFFSET, 0x02);
    expect(s.read(DATA_OFFSET)).toBe(0x01);
    expect(s.read(IER_OFFSET)).toBe(0x02);
    expect(s.baudDivisor).toBe(0x0201);
    s.write(LCR_OFFSET, 0x03);
    expect(s.read(IER_OFFSET)).toBe(0); // IER untouched by the divisor write
  });

  it("stores the scratch register and masks IER to the 16550 bits", () => {
    const s = new Serial(new CountingTrigger());
    s.write(SCR_OFFSET, 0x5a);
    expect(s.read(SCR_OFFSET)).toBe(0x5a);
    s.write(IER_OFFSET, 0xf0);
    expect(s.read(IER_OFFSET)).toBe(0);
  });
});

describe("Serial output", () => {
  it("writes each byte to the output and raises THR empty once until IIR is read", () => {
    const t = new CountingTrigger();
    const out = new Collector();
    const { c, ev } = events();
    const s = new Serial(t, out, ev);
    s.write(IER_OFFSET, IER_THR_EMPTY_BIT); // raises THRE at once (THR is empty)
    expect(t.take()).toBe(1);
    expect(s.read(IIR_OFFSET) & 0x0f).toBe(IIR_THR_EMPTY_BIT);
    for (const b of Buffer.from("abc")) s.write(DATA_OFFSET, b);
    expect(out.text()).toBe("abc");
    expect(c.outByte).toBe(3);
    // Pending and not acknowledged: one trigger for the three bytes.
    expect(t.take()).toBe(1);
    expect(s.read(IIR_OFFSET) & 0x0f).toBe(IIR_THR_EMPTY_BIT);
    expect(s.read(IIR_OFFSET) & 0x0f).toBe(IIR_NONE_BIT);
    s.write(DATA_OFFSET, 0x64);
    expect(t.take()).toBe(1);
  });

  it("raises THR empty even when the output fails, and reports the lost byte", () => {
    const t = new CountingTrigger();
    const { c, ev } = events();
    const s = new Serial(
      t,
      {
        write() {
          throw new Error("EPIPE");
        },
      },
      ev,
    );
    s.write(IER_OFFSET, IER_THR_EMPTY_BIT);
    s.read(IIR_OFFSET);
    t.take();
    expect(() => s.write(DATA_OFFSET, 0x41)).not.toThrow();
    expect(c.txLostByte).toBe(1);
    expect(c.outByte).toBe(0);
    expect(t.take()).toBe(1);
  });

  it("works with a Node Writable", async () => {
    const pt = new PassThrough();
    const chunks: Buffer[] = [];
    pt.on("data", (d: Buffer) => chunks.push(d));
    const s = new Serial(new CountingTrigger(), pt);
    for (const b of Buffer.from("Linux version")) s.write(DATA_OFFSET, b);
    await new Promise((r) => setImmediate(r));
    expect(Buffer.concat(chunks).toString()).toBe("Linux version");
  });

  it("signals an eventfd-like object through EventFdTrigger", () => {
    let counter = 0n;
    const evt = {
      write(v: number | bigint = 1) {
        counter += BigInt(v);
      },
    };
    const s = new Serial(new EventFdTrigger(evt));
    s.write(IER_OFFSET, IER_RDA_BIT);
    s.enqueueRawBytes(Uint8Array.of(1, 2));
    expect(counter).toBe(1n);
  });

  it("turns a failing trigger into a typed error", () => {
    const s = new Serial({
      trigger() {
        throw new Error("irqfd gone");
      },
    });
    try {
      s.write(IER_OFFSET, IER_THR_EMPTY_BIT);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SuperIoError);
      expect((e as SuperIoError).code).toBe("TRIGGER_FAILED");
    }
  });
});

describe("Serial input", () => {
  it("queues raw bytes, raises RDA and drains in order", () => {
    const t = new CountingTrigger();
    const { c, ev } = events();
    const s = new Serial(t, null, ev);
    s.write(IER_OFFSET, IER_RDA_BIT);
    expect(s.enqueueRawBytes(new Uint8Array())).toBe(0);
    expect(t.count).toBe(0);
    expect(s.read(LSR_OFFSET) & LSR_DATA_READY_BIT).toBe(0);
    expect(s.enqueueRawBytes(Buffer.from("abc"))).toBe(3);
    expect(t.take()).toBe(1);
    expect(s.read(LSR_OFFSET) & LSR_DATA_READY_BIT).toBe(1);
    expect(s.read(IIR_OFFSET) & 0x0f).toBe(IIR_RDA_BIT);
    const got = [s.read(DATA_OFFSET), s.read(DATA_OFFSET), s.read(DATA_OFFSET)];
    expect(Buffer.from(got).toString()).toBe("abc");
    expect(s.read(LSR_OFFSET) & LSR_DATA_READY_BIT).toBe(0);
    expect(c.bufferRead).toBe(3);
    expect(c.inBufferEmpty).toBe(1);
    expect(s.read(DATA_OFFSET)).toBe(0); // empty FIFO reads 0
  });

  it("takes what fits and refuses a full FIFO with FULL_FIFO", () => {
    const s = new Serial(new CountingTrigger());
    expect(s.enqueueRawBytes(new Uint8Array(100).fill(7))).toBe(FIFO_SIZE);
    expect(s.fifoCapacity).toBe(0);
    expect(() => s.enqueueRawBytes(Uint8Array.of(1))).toThrow(expect.objectContaining({ code: "FULL_FIFO" }));
    s.read(DATA_OFFSET);
    expect(s.enqueueRawBytes(Uint8Array.of(9, 9))).toBe(1);
  });

  it("flushes the receive FIFO on FCR", () => {
    const { c, ev } = events();
    const s = new Serial(new CountingTrigger(), null, ev);
    s.enqueueRawBytes(Buffer.from("xyz"));
    s.write(FCR_OFFSET, FCR_FLUSH_IN_BIT);
    expect(s.read(LSR_OFFSET) & LSR_DATA_READY_BIT).toBe(0);
    expect(s.fifoCapacity).toBe(FIFO_SIZE);
    expect(c.inBufferEmpty).toBe(1);
  });

  it("re-asserts pending RDA and THRE when IER is written (vm-superio 0.8.2)", () => {
    const t = new CountingTrigger();
    const s = new Serial(t);
    s.write(IER_OFFSET, IER_RDA_BIT);
    // Linux's console masks IER around a printk; input arrives meanwhile.
    s.write(IER_OFFSET, 0);
    s.enqueueRawBytes(Buffer.from("ls\n"));
    expect(t.take()).toBe(0);
    s.write(IER_OFFSET, IER_RDA_BIT); // restored: the interrupt must come now
    expect(t.take()).toBe(1);
    expect(s.read(IIR_OFFSET) & 0x0f).toBe(IIR_RDA_BIT);
    s.write(IER_OFFSET, IER_RDA_BIT | IER_THR_EMPTY_BIT);
    expect(t.take()).toBe(2);
    expect(s.read(IIR_OFFSET) & 0x0f).toBe(IIR_RDA_BIT | IIR_THR_EMPTY_BIT);
  });

  it("feeds a Readable with back-pressure", async () => {
    const input = new PassThrough();
    const t = new CountingTrigger();
    const s = new Serial(t);
    const conn = s.connectInput(input);
    const payload = Buffer.alloc(200);
    for (let i = 0; i < payload.length; i++) payload[i] = i;
    input.write(payload);
    await new Promise((r) => setImmediate(r));
    expect(s.fifoCapacity).toBe(0);
    expect(conn.pendingBytes).toBe(200 - FIFO_SIZE);
    expect(input.isPaused()).toBe(true);
    const got: number[] = [];
    while (s.read(LSR_OFFSET) & LSR_DATA_READY_BIT) got.push(s.read(DATA_OFFSET));
    expect(got).toEqual([...payload]);
    expect(conn.pendingBytes).toBe(0);
    expect(input.isPaused()).toBe(false);
    input.write("hi");
    await new Promise((r) => setImmediate(r));
    expect(s.read(DATA_OFFSET)).toBe(0x68);
    conn.detach();
    input.write("x");
    await new Promise((r) => setImmediate(r));
    expect(s.read(DATA_OFFSET)).toBe(0x69);
    expect(s.read(LSR_OFFSET) & LSR_DATA_READY_BIT).toBe(0);
  });
});

describe("Serial loopback", () => {
  it("loops transmitted bytes back and mirrors the modem bits", () => {
    const t = new CountingTrigger();
    const out = new Collector();
    const s = new Serial(t, out);
    s.write(IER_OFFSET, IER_RDA_BIT);
    s.write(MCR_OFFSET, MCR_LOOP_BIT);
    expect(s.read(MSR_OFFSET) & 0xf0).toBe(0);
    s.write(MCR_OFFSET, MCR_LOOP_BIT | MCR_DTR_BIT);
    expect(s.read(MSR_OFFSET) & 0xf0).toBe(MSR_DSR_BIT);
    s.write(MCR_OFFSET, MCR_LOOP_BIT | MCR_RTS_BIT);
    expect(s.read(MSR_OFFSET) & 0xf0).toBe(MSR_CTS_BIT);
    s.write(MCR_OFFSET, MCR_LOOP_BIT | MCR_OUT1_BIT);
    expect(s.read(MSR_OFFSET) & 0xf0).toBe(MSR_RI_BIT);
    s.write(MCR_OFFSET, MCR_LOOP_BIT | MCR_OUT2_BIT);
    expect(s.read(MSR_OFFSET) & 0xf0).toBe(MSR_DCD_BIT);
    for (const b of Buffer.from("loop")) s.write(DATA_OFFSET, b);
    expect(out.bytes).toEqual([]);
    expect(t.take()).toBe(1);
    expect(s.enqueueRawBytes(Uint8Array.of(1))).toBe(0); // the line is disconnected
    const got = [0, 1, 2, 3].map(() => s.read(DATA_OFFSET));
    expect(Buffer.from(got).toString()).toBe("loop");
    for (let i = 0; i < 100; i++) s.write(DATA_OFFSET, i);
    expect(s.fifoCapacity).toBe(0); // extra bytes dropped, no overflow
    s.write(MCR_OFFSET, MCR_OUT2_BIT);
    expect(s.read(MSR_OFFSET)).toBe(MSR_DSR_BIT | MSR_CTS_BIT | MSR_DCD_BIT);
  });
});

describe("Serial state", () => {
  it("round-trips and re-raises enabled pending interrupts", () => {
    const t = new CountingTrigger();
    const s = new Serial(t);
    s.write(IER_OFFSET, IER_RDA_BIT | IER_THR_EMPTY_BIT);
    s.write(SCR_OFFSET, 0x42);
    s.enqueueRawBytes(Buffer.from("snap"));
    const st = s.state();
    const json = JSON.parse(JSON.stringify(st)) as SerialState;
    const t2 = new CountingTrigger();
    const r = Serial.fromState(json, t2);
    expect(r.state()).toEqual(st);
    expect(t2.count).toBe(2); // THRE and RDA both pending and enabled
    expect(Buffer.from([0, 1, 2, 3].map(() => r.read(DATA_OFFSET))).toString()).toBe("snap");
  });

  it("refuses bad states with typed errors naming the field", () => {
    const t = new CountingTrigger();
    const base = defaultSerialState();
    expect(() => Serial.fromState({ ...base, inBuffer: new Array(65).fill(0) }, t)).toThrow(
      expect.objectContaining({ code: "FULL_FIFO", field: "inBuffer" }),
    );
    expect(() => Serial.fromState({ ...base, scratch: 256 }, t)).toThrow(
      expect.objectContaining({ code: "INVALID_STATE", field: "scratch" }),
    );
    expect(() => Serial.fromState({ ...base, inBuffer: [1, -1] }, t)).toThrow(
      expect.objectContaining({ code: "INVALID_STATE", field: "inBuffer" }),
    );
  });
});

describe("Serial properties (hostile guest)", () => {
  const op = fc.oneof(
    fc.record({
      kind: fc.constant("w" as const),
      off: fc.integer({ min: -2, max: 10 }),
      v: fc.integer({ min: 0, max: 255 }),
    }),
    fc.record({ kind: fc.constant("r" as const), off: fc.integer({ min: -2, max: 10 }) }),
    fc.record({ kind: fc.constant("in" as const), bytes: fc.uint8Array({ maxLength: 80 }) }),
  );

  it("never throws on guest accesses, keeps invariants, and restores to the same behaviour", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), fc.array(op, { maxLength: 50 }), (ops, tail) => {
        const s = new Serial(new CountingTrigger(), new Collector());
        const apply = (dev: Serial, o: (typeof ops)[number]): number | undefined => {
          if (o.kind === "w") dev.write(o.off, o.v);
          else if (o.kind === "r") return dev.read(o.off);
          else {
            try {
              dev.enqueueRawBytes(o.bytes);
            } catch (e) {
              expect((e as SuperIoError).code).toBe("FULL_FIFO");
            }
          }
          return undefined;
        };
        for (const o of ops) {
          const v = apply(s, o);
          if (v !== undefined) expect(v >= 0 && v <= 255).toBe(true);
          expect(s.fifoCapacity >= 0 && s.fifoCapacity <= FIFO_SIZE).toBe(true);
          const st = s.state();
          // LSR.DR set exactly when the FIFO holds data.
          expect((st.lineStatus & LSR_DATA_READY_BIT) !== 0).toBe(st.inBuffer.length > 0);
        }
        const r = Serial.fromState(s.state(), new CountingTrigger(), new Collector());
        for (const o of tail) expect(apply(r, o)).toBe(apply(s, o));
        expect(r.state()).toEqual(s.state());
      }),
    );
  });

  it("fromState never throws untyped errors on hostile states", () => {
    fc.assert(
      fc.property(
        fc.record({
          baudDivisorLow: fc.oneof(fc.integer({ min: -5, max: 300 }), fc.double()),
          baudDivisorHigh: fc.integer({ min: 0, max: 255 }),
          interruptEnable: fc.integer({ min: 0, max: 255 }),
          interruptIdentification: fc.integer({ min: 0, max: 255 }),
          lineControl: fc.integer({ min: 0, max: 255 }),
          lineStatus: fc.integer({ min: 0, max: 255 }),
          modemControl: fc.integer({ min: 0, max: 255 }),
          modemStatus: fc.integer({ min: 0, max: 255 }),
          scratch: fc.integer({ min: 0, max: 255 }),
          inBuffer: fc.array(fc.integer({ min: -1, max: 256 }), { maxLength: 70 }),
        }),
        (st) => {
          try {
            const s = Serial.fromState(st as SerialState, new CountingTrigger());
            expect(s.state().inBuffer).toEqual(st.inBuffer);
          } catch (e) {
            expect(e).toBeInstanceOf(SuperIoError);
          }
        },
      ),
    );
  });
});
