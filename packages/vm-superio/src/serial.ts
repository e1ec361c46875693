import { SuperIoError } from "./errors.js";
import { fire, type Trigger } from "./trigger.js";

// Register offsets from the base port (0x3f8 for COM1). DATA and IER double as the divisor
// latch when LCR.DLAB is set; offset 2 is IIR on reads and FCR on writes.
export const DATA_OFFSET = 0;
export const IER_OFFSET = 1;
export const IIR_OFFSET = 2;
export const FCR_OFFSET = 2;
export const LCR_OFFSET = 3;
export const MCR_OFFSET = 4;
export const LSR_OFFSET = 5;
export const MSR_OFFSET = 6;
export const SCR_OFFSET = 7;
export const DLAB_LOW_OFFSET = 0;
export const DLAB_HIGH_OFFSET = 1;

/** Size of the receive FIFO, as in rust-vmm (Linux's 8250 driver accepts 64 for a 16550A). */
export const FIFO_SIZE = 64;

export const IER_RDA_BIT = 0x01;
export const IER_THR_EMPTY_BIT = 0x02;
const IER_UART_VALID_BITS = 0x0f;

const IIR_FIFO_BITS = 0xc0;
export const IIR_NONE_BIT = 0x01;
export const IIR_THR_EMPTY_BIT = 0x02;
export const IIR_RDA_BIT = 0x04;

export const FCR_FLUSH_IN_BIT = 0x02;
export const LCR_DLAB_BIT = 0x80;

export const LSR_DATA_READY_BIT = 0x01;
export const LSR_EMPTY_THR_BIT = 0x20;
export const LSR_IDLE_BIT = 0x40;

export const MCR_DTR_BIT = 0x01;
export const MCR_RTS_BIT = 0x02;
export const MCR_OUT1_BIT = 0x04;
export const MCR_OUT2_BIT = 0x08;
export const MCR_LOOP_BIT = 0x10;

export const MSR_CTS_BIT = 0x10;
export const MSR_DSR_BIT = 0x20;
export const MSR_RI_BIT = 0x40;
export const MSR_DCD_BIT = 0x80;

const DEFAULT_BAUD_DIVISOR_HIGH = 0x00;
const DEFAULT_BAUD_DIVISOR_LOW = 0x0c; // 9600 bps
const DEFAULT_INTERRUPT_ENABLE = 0x00;
const DEFAULT_INTERRUPT_IDENTIFICATION = IIR_NONE_BIT;
// A virtual transmitter is always ready: THR empty and the shift register idle, for ever.
const DEFAULT_LINE_STATUS = LSR_EMPTY_THR_BIT | LSR_IDLE_BIT;
const DEFAULT_LINE_CONTROL = 0x03; // 8 data bits
const DEFAULT_MODEM_CONTROL = MCR_OUT2_BIT;
const DEFAULT_MODEM_STATUS = MSR_DSR_BIT | MSR_CTS_BIT | MSR_DCD_BIT;
const DEFAULT_SCRATCH = 0x00;

/**
 * Where the guest's output goes: anything with a `write(chunk)`, such as a Node `Writable`
 * (`process.stdout`, a file stream) or an in-memory collector. Each byte is written as its own
 * chunk, immediately. A `write` that throws loses the byte (the `txLostByte` event fires).
 */
export interface SerialOutput {
  write(chunk: Uint8Array): unknown;
}

/** Callbacks for the events of the serial emulation (rust-vmm's `SerialEvents`); all optional. */
export interface SerialEvents {
  /** The driver read a byte from the receive buffer. */
  bufferRead?(): void;
  /** A byte written by the driver reached the output. */
  outByte?(): void;
  /** Writing a byte to the output failed and the byte was lost. */
  txLostByte?(error: unknown): void;
  /** The receive FIFO became empty: more input can be sent. */
  inBufferEmpty?(): void;
  /** An error inside a connected input stream's handler (such as a failing trigger). */
  inputError?(error: unknown): void;
}

/** The saved state of a `Serial`: plain data (JSON-serialisable), as rust-vmm's `SerialState`. */
export interface SerialState {
  baudDivisorLow: number;
  baudDivisorHigh: number;
  interruptEnable: number;
  interruptIdentification: number;
  lineControl: number;
  lineStatus: number;
  modemControl: number;
  modemStatus: number;
  scratch: number;
  /** Bytes waiting in the receive FIFO, oldest first (at most `FIFO_SIZE`). */
  inBuffer: number[];
}

/** The state of a freshly reset 16550A. */
export function defaultSerialState(): SerialState {
  return {
    baudDivisorLow: DEFAULT_BAUD_DIVISOR_LOW,
    baudDivisorHigh: DEFAULT_BAUD_DIVISOR_HIGH,
    interruptEnable: DEFAULT_INTERRUPT_ENABLE,
    interruptIdentification: DEFAULT_INTERRUPT_IDENTIFICATION,
    lineControl: DEFAULT_LINE_CONTROL,
    lineStatus: DEFAULT_LINE_STATUS,
    modemControl: DEFAULT_MODEM_CONTROL,
    modemStatus: DEFAULT_MODEM_STATUS,
    scratch: DEFAULT_SCRATCH,
    inBuffer: [],
  };
}

/** The part of a Node `Readable` that `connectInput` uses. */
export interface SerialInput {
  on(event: "data", listener: (chunk: Uint8Array | string) => void): unknown;
  off(event: "data", listener: (chunk: Uint8Array | string) => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

/** A connected input stream; `detach()` stops reading from it and drops what was held back. */
export interface InputConnection {
  detach(): void;
  /** Bytes read from the stream that wait for room in the FIFO. */
  readonly pendingBytes: number;
}

const STATE_BYTE_FIELDS = [
  "baudDivisorLow",
  "baudDivisorHigh",
  "interruptEnable",
  "interruptIdentification",
  "lineControl",
  "lineStatus",
  "modemControl",
  "modemStatus",
  "scratch",
] as const;

function isByte(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xff;
}

/**
 * A 16550A UART, the serial console of a VMM, with the behaviour of rust-vmm's
 * `vm_superio::Serial`: an 8-register port I/O device, a 64-byte receive FIFO, loopback mode, the
 * THR-empty and received-data interrupts raised through a `Trigger`, and state save/restore.
 * Pending interrupts are re-asserted when the driver writes IER (the fix of vm-superio 0.8.2).
 *
 * `read`/`write` take the offset from the base port (0..7) and never throw on guest input:
 * unknown offsets read as 0 and ignore writes.
 */
export class Serial {
  #baudDivisorLow: number;
  #baudDivisorHigh: number;
  #interruptEnable: number;
  #interruptIdentification: number;
  #lineControl: number;
  #lineStatus: number;
  #modemControl: number;
  #modemStatus: number;
  #scratch: number;
  // The receive FIFO as a ring buffer: no allocation per byte.
  readonly #fifo = new Uint8Array(FIFO_SIZE);
  #fifoHead = 0;
  #fifoLen = 0;

  readonly #trigger: Trigger;
  readonly #out: SerialOutput | null;
  readonly #events: SerialEvents;
  #input: InputPump | null = null;

  /**
   * @param trigger raised for the THR-empty and received-data interrupts (IRQ 4 for COM1).
   * @param out where the guest's output goes; `null` discards it (but still counts `outByte`).
   * @param events optional callbacks.
   */
  constructor(trigger: Trigger, out: SerialOutput | null = null, events: SerialEvents = {}) {
    const s = defaultSerialState();
    this.#trigger = trigger;
    this.#out = out;
    this.#events = events;
    this.#baudDivisorLow = s.baudDivisorLow;
    this.#baudDivisorHigh = s.baudDivisorHigh;
    this.#interruptEnable = s.interruptEnable;
    this.#interruptIdentification = s.interruptIdentification;
    this.#lineControl = s.lineControl;
    this.#lineStatus = s.lineStatus;
    this.#modemControl = s.modemControl;
    this.#modemStatus = s.modemStatus;
    this.#scratch = s.scratch;
  }

  /**
   * Rebuilds a device from `state()`. Interrupts that were pending and enabled are raised again.
   * Throws `INVALID_STATE` (naming the field) for a field that is not a byte and `FULL_FIFO` for
   * a receive buffer longer than `FIFO_SIZE`.
   */
  static fromState(
    state: SerialState,
    trigger: Trigger,
    out: SerialOutput | null = null,
    events: SerialEvents = {},
  ): Serial {
    if (state === null || typeof state !== "object") {
      throw new SuperIoError("INVALID_STATE", "serial state must be an object", { field: "state" });
    }
    for (const f of STATE_BYTE_FIELDS) {
      if (!isByte(state[f])) {
        throw new SuperIoError("INVALID_STATE", `serial state: ${f} must be a byte, got ${String(state[f])}`, {
          field: f,
        });
      }
    }
    if (!Array.isArray(state.inBuffer)) {
      throw new SuperIoError("INVALID_STATE", "serial state: inBuffer must be an array of bytes", {
        field: "inBuffer",
      });
    }
    if (state.inBuffer.length > FIFO_SIZE) {
      throw new SuperIoError(
        "FULL_FIFO",
        `serial state: inBuffer holds ${state.inBuffer.length} bytes, the FIFO only ${FIFO_SIZE}`,
        { field: "inBuffer" },
      );
    }
    for (const b of state.inBuffer) {
      if (!isByte(b)) {
        throw new SuperIoError("INVALID_STATE", `serial state: inBuffer holds a non-byte ${String(b)}`, {
          field: "inBuffer",
        });
      }
    }
    const s = new Serial(trigger, out, events);
    s.#baudDivisorLow = state.baudDivisorLow;
    s.#baudDivisorHigh = state.baudDivisorHigh;
    s.#interruptEnable = state.interruptEnable;
    s.#interruptIdentification = state.interruptIdentification;
    s.#lineControl = state.lineControl;
    s.#lineStatus = state.lineStatus;
    s.#modemControl = state.modemControl;
    s.#modemStatus = state.modemStatus;
    s.#scratch = state.scratch;
    s.#fifo.set(state.inBuffer);
    s.#fifoLen = state.inBuffer.length;
    if (s.#isThrInterruptEnabled() && (s.#interruptIdentification & IIR_THR_EMPTY_BIT) !== 0) {
      fire(trigger, "serial THR-empty interrupt");
    }
    if (s.#isRdaInterruptEnabled() && (s.#interruptIdentification & IIR_RDA_BIT) !== 0) {
      fire(trigger, "serial received-data interrupt");
    }
    return s;
  }

  /** A snapshot of the registers and the receive FIFO. */
  state(): SerialState {
    const inBuffer: number[] = [];
    for (let i = 0; i < this.#fifoLen; i++) inBuffer.push(this.#fifo[(this.#fifoHead + i) % FIFO_SIZE]);
    return {
      baudDivisorLow: this.#baudDivisorLow,
      baudDivisorHigh: this.#baudDivisorHigh,
      interruptEnable: this.#interruptEnable,
      interruptIdentification: this.#interruptIdentification,
      lineControl: this.#lineControl,
      lineStatus: this.#lineStatus,
      modemControl: this.#modemControl,
      modemStatus: this.#modemStatus,
      scratch: this.#scratch,
      inBuffer,
    };
  }

  get trigger(): Trigger {
    return this.#trigger;
  }
  get output(): SerialOutput | null {
    return this.#out;
  }
  /** Free room in the receive FIFO. */
  get fifoCapacity(): number {
    return FIFO_SIZE - this.#fifoLen;
  }
  /** The baud-rate divisor the driver programmed (12 = 9600 bps after reset). */
  get baudDivisor(): number {
    return (this.#baudDivisorHigh << 8) | this.#baudDivisorLow;
  }

  #isDlabSet(): boolean {
    return (this.#lineControl & LCR_DLAB_BIT) !== 0;
  }
  #isRdaInterruptEnabled(): boolean {
    return (this.#interruptEnable & IER_RDA_BIT) !== 0;
  }
  #isThrInterruptEnabled(): boolean {
    return (this.#interruptEnable & IER_THR_EMPTY_BIT) !== 0;
  }
  #isInLoopMode(): boolean {
    return (this.#modemControl & MCR_LOOP_BIT) !== 0;
  }
  #addInterrupt(bits: number): void {
    this.#interruptIdentification = (this.#interruptIdentification & ~IIR_NONE_BIT) | bits;
  }
  #delInterrupt(bits: number): void {
    this.#interruptIdentification &= ~bits;
    if (this.#interruptIdentification === 0) this.#interruptIdentification = IIR_NONE_BIT;
  }
  #thrEmptyInterrupt(): void {
    // Raise it only if it is not already pending (not yet acknowledged by an IIR read).
    if (this.#isThrInterruptEnabled() && (this.#interruptIdentification & IIR_THR_EMPTY_BIT) === 0) {
      this.#addInterrupt(IIR_THR_EMPTY_BIT);
      fire(this.#trigger, "serial THR-empty interrupt");
    }
  }
  #receivedDataInterrupt(): void {
    if (this.#isRdaInterruptEnabled() && (this.#interruptIdentification & IIR_RDA_BIT) === 0) {
      this.#addInterrupt(IIR_RDA_BIT);
      fire(this.#trigger, "serial received-data interrupt");
    }
  }
  #push(value: number): void {
    this.#fifo[(this.#fifoHead + this.#fifoLen) % FIFO_SIZE] = value;
    this.#fifoLen++;
  }

  /**
   * A driver's write of `value` at `offset` from the base port. Only a failing `Trigger` throws
   * (`TRIGGER_FAILED`); an output that throws loses the byte and fires `txLostByte`.
   */
  write(offset: number, value: number): void {
    value &= 0xff;
    switch (offset) {
      case DATA_OFFSET:
        if (this.#isDlabSet()) {
          this.#baudDivisorLow = value;
        } else if (this.#isInLoopMode()) {
          // Loopback: what is transmitted is received at once.
          if (this.#fifoLen < FIFO_SIZE) {
            this.#push(value);
            this.#lineStatus |= LSR_DATA_READY_BIT;
            this.#receivedDataInterrupt();
          }
        } else {
          this.#transmit(value);
        }
        return;
      case IER_OFFSET:
        if (this.#isDlabSet()) {
          this.#baudDivisorHigh = value;
          return;
        }
        this.#interruptEnable = value & IER_UART_VALID_BITS;
        // vm-superio 0.8.2: a real UART's interrupt line is the level "pending AND enabled".
        // Linux's console masks IER around each message and relies on the UART to raise what
        // became pending meanwhile once IER is restored, so re-assert pending conditions here.
        if (this.#isRdaInterruptEnabled() && this.#fifoLen > 0) {
          this.#addInterrupt(IIR_RDA_BIT);
          fire(this.#trigger, "serial received-data interrupt");
        }
        if (this.#isThrInterruptEnabled()) {
          // The transmitter holding register is always empty in this model.
          this.#addInterrupt(IIR_THR_EMPTY_BIT);
          fire(this.#trigger, "serial THR-empty interrupt");
        }
        return;
      case FCR_OFFSET:
        if ((value & FCR_FLUSH_IN_BIT) !== 0) {
          this.#fifoHead = 0;
          this.#fifoLen = 0;
          this.#lineStatus &= ~LSR_DATA_READY_BIT;
          this.#events.inBufferEmpty?.();
          this.#input?.pump();
        }
        return;
      case LCR_OFFSET:
        this.#lineControl = value;
        return;
      case MCR_OFFSET: {
        const wasLoop = this.#isInLoopMode();
        this.#modemControl = value;
        if (wasLoop && !this.#isInLoopMode()) this.#input?.pump();
        return;
      }
      case SCR_OFFSET:
        this.#scratch = value;
        return;
      default:
        // LSR and MSR are read-only; anything else is not a register.
        return;
    }
  }

  #transmit(value: number): void {
    try {
      this.#out?.write(Uint8Array.of(value));
      this.#events.outByte?.();
    } catch (error) {
      this.#events.txLostByte?.(error);
    }
    // The driver cannot be blocked: THR-empty is raised whether or not the byte got out.
    this.#thrEmptyInterrupt();
  }

  /** A driver's read at `offset` from the base port. Never throws. */
  read(offset: number): number {
    switch (offset) {
      case DATA_OFFSET: {
        if (this.#isDlabSet()) return this.#baudDivisorLow;
        this.#delInterrupt(IIR_RDA_BIT);
        let byte = 0;
        if (this.#fifoLen > 0) {
          byte = this.#fifo[this.#fifoHead];
          this.#fifoHead = (this.#fifoHead + 1) % FIFO_SIZE;
          this.#fifoLen--;
        }
        if (this.#fifoLen === 0) {
          this.#lineStatus &= ~LSR_DATA_READY_BIT;
          this.#events.inBufferEmpty?.();
        }
        this.#events.bufferRead?.();
        if (this.#input !== null) this.#input.pump();
        return byte;
      }
      case IER_OFFSET:
        return this.#isDlabSet() ? this.#baudDivisorHigh : this.#interruptEnable;
      case IIR_OFFSET: {
        // FIFO bits set: Linux's 8250 driver then identifies the port as a 16550A.
        const iir = this.#interruptIdentification | IIR_FIFO_BITS;
        this.#interruptIdentification = DEFAULT_INTERRUPT_IDENTIFICATION;
        return iir;
      }
      case LCR_OFFSET:
        return this.#lineControl;
      case MCR_OFFSET:
        return this.#modemControl;
      case LSR_OFFSET:
        return this.#lineStatus;
      case MSR_OFFSET: {
        if (!this.#isInLoopMode()) return this.#modemStatus;
        // Loopback: CTS follows RTS, DSR follows DTR, RI follows OUT1 and DCD follows OUT2.
        let msr = this.#modemStatus & ~(MSR_DSR_BIT | MSR_CTS_BIT | MSR_RI_BIT | MSR_DCD_BIT);
        const mcr = this.#modemControl;
        if (mcr & MCR_DTR_BIT) msr |= MSR_DSR_BIT;
        if (mcr & MCR_RTS_BIT) msr |= MSR_CTS_BIT;
        if (mcr & MCR_OUT1_BIT) msr |= MSR_RI_BIT;
        if (mcr & MCR_OUT2_BIT) msr |= MSR_DCD_BIT;
        return msr;
      }
      case SCR_OFFSET:
        return this.#scratch;
      default:
        return 0;
    }
  }

  /**
   * Puts host input into the receive FIFO, as much as fits, and raises the received-data
   * interrupt. Returns how many bytes were taken: 0 for empty input or in loopback mode (the
   * line is then disconnected). Throws `FULL_FIFO` when non-empty input finds the FIFO full.
   */
  enqueueRawBytes(input: Uint8Array): number {
    if (this.#isInLoopMode() || input.length === 0) return 0;
    if (this.#fifoLen === FIFO_SIZE) {
      throw new SuperIoError("FULL_FIFO", `the serial receive FIFO is full (${FIFO_SIZE} bytes)`);
    }
    const n = Math.min(FIFO_SIZE - this.#fifoLen, input.length);
    for (let i = 0; i < n; i++) this.#push(input[i]);
    this.#lineStatus |= LSR_DATA_READY_BIT;
    this.#receivedDataInterrupt();
    return n;
  }

  /**
   * Feeds a Node `Readable` (e.g. `process.stdin`) into the receive FIFO with back-pressure:
   * when the FIFO is full the stream is paused and the rest of its chunk held back; as the
   * driver reads, held-back bytes move in and the stream is resumed. One input at a time.
   */
  connectInput(input: SerialInput): InputConnection {
    if (this.#input !== null) {
      throw new SuperIoError("INVALID_ARGUMENT", "the serial port already has an input connected", {
        field: "input",
      });
    }
    const pump = new InputPump(this, input, this.#events);
    this.#input = pump;
    input.on("data", pump.onData);
    return {
      detach: () => {
        input.off("data", pump.onData);
        pump.pending.length = 0;
        if (this.#input === pump) this.#input = null;
      },
      get pendingBytes() {
        return pump.pendingBytes();
      },
    };
  }
}

class InputPump {
  readonly pending: Uint8Array[] = [];
  #paused = false;
  #pumping = false;
  constructor(
    readonly serial: Serial,
    readonly input: SerialInput,
    readonly events: SerialEvents,
  ) {}

  readonly onData = (chunk: Uint8Array | string): void => {
    const bytes = typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk;
    if (bytes.length === 0) return;
    this.pending.push(bytes);
    this.pump();
  };

  pendingBytes(): number {
    let n = 0;
    for (const c of this.pending) n += c.length;
    return n;
  }

  pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.pending.length > 0 && this.serial.fifoCapacity > 0) {
        const head = this.pending[0];
        const n = this.serial.enqueueRawBytes(head);
        if (n === 0) break; // loopback mode: the line is disconnected
        if (n === head.length) this.pending.shift();
        else this.pending[0] = head.subarray(n);
      }
    } catch (error) {
      if (this.events.inputError) this.events.inputError(error);
      else throw error;
    } finally {
      this.#pumping = false;
    }
    if (this.pending.length > 0 && !this.#paused) {
      this.#paused = true;
      this.input.pause();
    } else if (this.pending.length === 0 && this.#paused) {
      this.#paused = false;
      this.input.resume();
    }
  }
}
