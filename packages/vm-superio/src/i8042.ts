import { SuperIoError } from "./errors.js";
import { fire, type Trigger } from "./trigger.js";

/** The saved state of an `I8042Device` (plain data). */
export interface I8042State {
  status: number;
  commandByte: number;
  outputPort: number;
  /** A controller command waiting for its data byte (0x60 or 0xD1), or 0. */
  pendingCommand: number;
  /** Bytes waiting to be read from port 0x60, oldest first (at most 16). */
  buffer: number[];
}

/** Offset of the data port (0x60) from the device base 0x60. */
export const I8042_DATA_OFFSET = 0;
/** Offset of the command (write) / status (read) port (0x64) from the base 0x60. */
export const I8042_COMMAND_OFFSET = 4;

// Controller commands (written to 0x64).
export const I8042_CMD_READ_CTR = 0x20;
export const I8042_CMD_WRITE_CTR = 0x60;
export const I8042_CMD_DISABLE_AUX = 0xa7;
export const I8042_CMD_ENABLE_AUX = 0xa8;
export const I8042_CMD_AUX_TEST = 0xa9;
export const I8042_CMD_SELF_TEST = 0xaa;
export const I8042_CMD_KBD_TEST = 0xab;
export const I8042_CMD_DISABLE_KBD = 0xad;
export const I8042_CMD_ENABLE_KBD = 0xae;
export const I8042_CMD_READ_OUTP = 0xd0;
export const I8042_CMD_WRITE_OUTP = 0xd1;
export const I8042_CMD_RESET_CPU = 0xfe;

// Status register bits (read from 0x64).
export const I8042_STATUS_OUTPUT_FULL = 0x01;
export const I8042_STATUS_SYSTEM_FLAG = 0x04;
export const I8042_STATUS_LAST_WAS_COMMAND = 0x08;
export const I8042_STATUS_KBD_UNLOCKED = 0x10;

// Controller configuration ("command byte") bits.
export const I8042_CTR_KBD_INT = 0x01;
export const I8042_CTR_SYSTEM_FLAG = 0x04;
export const I8042_CTR_KBD_DISABLE = 0x10;
export const I8042_CTR_XLATE = 0x40;

const KBD_ACK = 0xfa;
const BUFFER_SIZE = 16;

/**
 * A minimal i8042 PS/2 controller at ports 0x60/0x64, as a VMM needs it: the guest resets the
 * machine by writing 0xFE to the command port (the `reset` trigger fires), and Linux's i8042 driver
 * finds a working controller (command byte read/write, self test 0x55, interface test 0, output
 * port) with a keyboard that acknowledges commands. `sendKeys` injects scancodes (for example
 * Ctrl-Alt-Del) and raises IRQ 1 through the optional `keyboardInterrupt` trigger.
 *
 * rust-vmm's I8042Device only knows the reset (reads are 0); this one answers the probe too.
 */
export class I8042Device {
  readonly #reset: Trigger;
  readonly #kbdInterrupt: Trigger | null;
  #status = I8042_STATUS_KBD_UNLOCKED | I8042_STATUS_SYSTEM_FLAG;
  #control = I8042_CTR_KBD_INT | I8042_CTR_SYSTEM_FLAG | I8042_CTR_XLATE;
  #outputPort = 0x01; // bit 0: the CPU is not held in reset
  #pendingCommand = 0;
  readonly #buf = new Uint8Array(BUFFER_SIZE);
  #head = 0;
  #len = 0;

  constructor(reset: Trigger, keyboardInterrupt: Trigger | null = null) {
    this.#reset = reset;
    this.#kbdInterrupt = keyboardInterrupt;
  }

  get resetTrigger(): Trigger {
    return this.#reset;
  }
  /** The controller configuration byte as last written by the guest. */
  get commandByte(): number {
    return this.#control;
  }

  #push(byte: number): boolean {
    if (this.#len === BUFFER_SIZE) return false;
    this.#buf[(this.#head + this.#len) % BUFFER_SIZE] = byte & 0xff;
    this.#len++;
    this.#status |= I8042_STATUS_OUTPUT_FULL;
    return true;
  }

  #pushAndInterrupt(byte: number): void {
    if (this.#push(byte) && (this.#control & I8042_CTR_KBD_INT) !== 0 && this.#kbdInterrupt !== null) {
      fire(this.#kbdInterrupt, "i8042 keyboard interrupt");
    }
  }

  /** A guest read at `offset` (0: data, 4: status). Never throws. */
  read(offset: number): number {
    if (offset === I8042_COMMAND_OFFSET) return this.#status;
    if (offset === I8042_DATA_OFFSET) {
      if (this.#len === 0) return 0;
      const b = this.#buf[this.#head];
      this.#head = (this.#head + 1) % BUFFER_SIZE;
      this.#len--;
      if (this.#len === 0) this.#status &= ~I8042_STATUS_OUTPUT_FULL;
      return b;
    }
    return 0;
  }

  /**
   * A guest write at `offset`. Writing 0xFE at offset 4 fires the reset trigger (only a failing
   * trigger throws, `TRIGGER_FAILED`); every other write is handled or ignored.
   */
  write(offset: number, value: number): void {
    value &= 0xff;
    if (offset === I8042_COMMAND_OFFSET) {
      this.#status |= I8042_STATUS_LAST_WAS_COMMAND;
      this.#pendingCommand = 0;
      switch (value) {
        case I8042_CMD_RESET_CPU:
          fire(this.#reset, "i8042 reset");
          return;
        case I8042_CMD_READ_CTR:
          this.#push(this.#control);
          return;
        case I8042_CMD_WRITE_CTR:
        case I8042_CMD_WRITE_OUTP:
          this.#pendingCommand = value;
          return;
        case I8042_CMD_READ_OUTP:
          this.#push(this.#outputPort);
          return;
        case I8042_CMD_SELF_TEST:
          this.#push(0x55);
          return;
        case I8042_CMD_KBD_TEST:
          this.#push(0x00);
          return;
        case I8042_CMD_DISABLE_KBD:
          this.#control |= I8042_CTR_KBD_DISABLE;
          return;
        case I8042_CMD_ENABLE_KBD:
          this.#control &= ~I8042_CTR_KBD_DISABLE;
          return;
        default:
          // No AUX (mouse) port: its commands, like everything else, are ignored.
          return;
      }
    }
    if (offset === I8042_DATA_OFFSET) {
      this.#status &= ~I8042_STATUS_LAST_WAS_COMMAND;
      const cmd = this.#pendingCommand;
      this.#pendingCommand = 0;
      if (cmd === I8042_CMD_WRITE_CTR) {
        this.#control = value;
        if (value & I8042_CTR_SYSTEM_FLAG) this.#status |= I8042_STATUS_SYSTEM_FLAG;
        else this.#status &= ~I8042_STATUS_SYSTEM_FLAG;
      } else if (cmd === I8042_CMD_WRITE_OUTP) {
        this.#outputPort = value;
        // Bit 0 clear holds the CPU in reset: the old way of asking for a reboot.
        if ((value & 0x01) === 0) fire(this.#reset, "i8042 reset");
      } else {
        // A byte for the keyboard itself: acknowledge it.
        this.#pushAndInterrupt(KBD_ACK);
      }
    }
  }

  /** Queues scancodes for the guest (dropped when the 16-byte buffer is full); returns how many were queued. */
  sendKeys(scancodes: ArrayLike<number>): number {
    let n = 0;
    for (let i = 0; i < scancodes.length; i++) {
      if (this.#len === BUFFER_SIZE) break;
      this.#pushAndInterrupt(scancodes[i]);
      n++;
    }
    return n;
  }

  state(): I8042State {
    const buffer: number[] = [];
    for (let i = 0; i < this.#len; i++) buffer.push(this.#buf[(this.#head + i) % BUFFER_SIZE]);
    return {
      status: this.#status,
      commandByte: this.#control,
      outputPort: this.#outputPort,
      pendingCommand: this.#pendingCommand,
      buffer,
    };
  }

  /** Rebuilds a device from `state()`; a malformed state is an `INVALID_STATE` error naming the field. */
  static fromState(state: I8042State, reset: Trigger, keyboardInterrupt: Trigger | null = null): I8042Device {
    const bad = (field: string, why: string) =>
      new SuperIoError("INVALID_STATE", `i8042 state: ${field} ${why}`, { field });
    const isByte = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xff;
    if (state === null || typeof state !== "object") throw bad("state", "must be an object");
    for (const f of ["status", "commandByte", "outputPort"] as const)
      if (!isByte(state[f])) throw bad(f, "must be a byte");
    if (![0, I8042_CMD_WRITE_CTR, I8042_CMD_WRITE_OUTP].includes(state.pendingCommand)) {
      throw bad("pendingCommand", "must be 0, 0x60 or 0xd1");
    }
    if (!Array.isArray(state.buffer) || state.buffer.length > BUFFER_SIZE || !state.buffer.every(isByte)) {
      throw bad("buffer", `must hold at most ${BUFFER_SIZE} bytes`);
    }
    const d = new I8042Device(reset, keyboardInterrupt);
    d.#status = state.status;
    d.#control = state.commandByte;
    d.#outputPort = state.outputPort;
    d.#pendingCommand = state.pendingCommand;
    d.#buf.set(state.buffer);
    d.#len = state.buffer.length;
    // Keep the output-buffer-full bit consistent with the buffer.
    if (d.#len > 0) d.#status |= I8042_STATUS_OUTPUT_FULL;
    else d.#status &= ~I8042_STATUS_OUTPUT_FULL;
    return d;
  }

  /** Sends Ctrl-Alt-Del (set-1 scancodes), which Linux turns into a reboot request. */
  sendCtrlAltDel(): number {
    return this.sendKeys([0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d]);
  }
}
