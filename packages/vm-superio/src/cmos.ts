import { SuperIoError } from "./errors.js";

/** Offset of the index port (0x70) from the device base 0x70. */
export const CMOS_INDEX_OFFSET = 0;
/** Offset of the data port (0x71) from the device base 0x70. */
export const CMOS_DATA_OFFSET = 1;

// MC146818 register indexes.
export const RTC_SECONDS = 0x00;
export const RTC_SECONDS_ALARM = 0x01;
export const RTC_MINUTES = 0x02;
export const RTC_MINUTES_ALARM = 0x03;
export const RTC_HOURS = 0x04;
export const RTC_HOURS_ALARM = 0x05;
export const RTC_DAY_OF_WEEK = 0x06;
export const RTC_DAY_OF_MONTH = 0x07;
export const RTC_MONTH = 0x08;
export const RTC_YEAR = 0x09;
export const RTC_REG_A = 0x0a;
export const RTC_REG_B = 0x0b;
export const RTC_REG_C = 0x0c;
export const RTC_REG_D = 0x0d;
/** The century byte (ACPI FADT's default and what Linux reads on PCs). */
export const RTC_CENTURY = 0x32;

export const RTC_REG_A_UIP = 0x80;
export const RTC_REG_B_SET = 0x80;
export const RTC_REG_B_DM_BINARY = 0x04;
export const RTC_REG_B_24H = 0x02;
export const RTC_REG_D_VRT = 0x80;
export const CMOS_NMI_DISABLE_BIT = 0x80;

const CMOS_SIZE = 128;
/** The update cycle takes 244 µs, during which UIP reads as 1 (set 244 µs before the second ends). */
const UIP_WINDOW_MS = 0.244;
/** Largest guest-host clock offset a saved state may hold (about 3000 years). */
const MAX_OFFSET_MS = 1e14;
/** The range of a JavaScript Date. */
const MAX_DATE_MS = 8.64e15;

/** The saved state of a `CmosRtc` (plain data). */
export interface CmosRtcState {
  index: number;
  nmiMasked: boolean;
  /** The 128 bytes of CMOS (time registers hold the value last written; time comes from offsetMs). */
  ram: number[];
  /** Guest time minus host time, in milliseconds. */
  offsetMs: number;
  /** While register B's SET bit is on: the frozen guest time in ms since the epoch. */
  frozenMs: number | null;
}

export interface CmosRtcOptions {
  /** The host clock in milliseconds since the Unix epoch (may be fractional); defaults to `Date.now`-like high resolution. */
  now?: () => number;
}

const TIME_FIELDS = new Set([
  RTC_SECONDS,
  RTC_MINUTES,
  RTC_HOURS,
  RTC_DAY_OF_WEEK,
  RTC_DAY_OF_MONTH,
  RTC_MONTH,
  RTC_YEAR,
  RTC_CENTURY,
]);

function defaultNow(): number {
  return performance.timeOrigin + performance.now();
}

function toBcd(v: number): number {
  return ((Math.floor(v / 10) % 10) << 4) | (v % 10);
}
function fromBcd(v: number): number {
  return (v >> 4) * 10 + (v & 0x0f);
}

interface Fields {
  sec: number;
  min: number;
  hour: number;
  wday: number; // 1..7, Sunday = 1
  mday: number;
  mon: number; // 1..12
  year: number; // full year
}

function fieldsOf(ms: number): Fields {
  let d = new Date(Math.floor(ms / 1000) * 1000);
  if (!Number.isFinite(d.getTime())) d = new Date(0); // outside what a Date can hold
  return {
    sec: d.getUTCSeconds(),
    min: d.getUTCMinutes(),
    hour: d.getUTCHours(),
    wday: d.getUTCDay() + 1,
    mday: d.getUTCDate(),
    mon: d.getUTCMonth() + 1,
    year: d.getUTCFullYear(),
  };
}

function msOf(f: Fields): number {
  return Date.UTC(f.year, f.mon - 1, f.mday, f.hour, f.min, f.sec);
}

/**
 * The PC's MC146818 real-time clock and CMOS RAM at ports 0x70 (index, bit 7 = NMI disable) and
 * 0x71 (data): date and time (UTC) from the host clock, BCD or binary and 12- or 24-hour modes
 * as register B asks, the update-in-progress bit of register A, the SET bit that freezes the clock
 * while the guest sets it, and 128 bytes of RAM. x86 Linux reads its wall clock here at boot.
 * Periodic, alarm and update interrupts are not generated (register C reads 0).
 */
export class CmosRtc {
  readonly #now: () => number;
  readonly #ram = new Uint8Array(CMOS_SIZE);
  #index = 0;
  #nmiMasked = false;
  #offsetMs = 0;
  #frozenMs: number | null = null;

  constructor(options: CmosRtcOptions = {}) {
    this.#now = options.now ?? defaultNow;
    this.#ram[RTC_REG_A] = 0x26; // 32.768 kHz time base, 1024 Hz periodic rate
    this.#ram[RTC_REG_B] = RTC_REG_B_24H; // 24-hour, BCD
    this.#ram[RTC_REG_D] = RTC_REG_D_VRT;
  }

  /** Whether the guest has set the NMI-disable bit (bit 7 of the last index written). */
  get nmiMasked(): boolean {
    return this.#nmiMasked;
  }
  /** The register index the next data access goes to. */
  get index(): number {
    return this.#index;
  }
  /** The guest's notion of the time, in ms since the epoch. */
  guestTimeMs(): number {
    return this.#frozenMs ?? this.#now() + this.#offsetMs;
  }

  /** A guest read at `offset` (0: port 0x70, 1: port 0x71). Never throws. */
  read(offset: number): number {
    if (offset !== CMOS_DATA_OFFSET) return 0xff; // the index port is write-only
    return this.#readRegister(this.#index);
  }

  /** A guest write at `offset` (0: select a register and the NMI mask, 1: write it). Never throws. */
  write(offset: number, value: number): void {
    value &= 0xff;
    if (offset === CMOS_INDEX_OFFSET) {
      this.#index = value & 0x7f;
      this.#nmiMasked = (value & CMOS_NMI_DISABLE_BIT) !== 0;
    } else if (offset === CMOS_DATA_OFFSET) {
      this.#writeRegister(this.#index, value);
    }
  }

  #binary(): boolean {
    return (this.#ram[RTC_REG_B] & RTC_REG_B_DM_BINARY) !== 0;
  }
  #enc(v: number): number {
    return this.#binary() ? v : toBcd(v);
  }
  #dec(v: number): number {
    return this.#binary() ? v : fromBcd(v);
  }
  #encHour(h: number): number {
    if (this.#ram[RTC_REG_B] & RTC_REG_B_24H) return this.#enc(h);
    const pm = h >= 12 ? 0x80 : 0;
    const h12 = h % 12 === 0 ? 12 : h % 12;
    return this.#enc(h12) | pm;
  }
  #decHour(v: number): number {
    if (this.#ram[RTC_REG_B] & RTC_REG_B_24H) return this.#dec(v);
    const pm = (v & 0x80) !== 0;
    const h12 = this.#dec(v & 0x7f) % 12;
    return pm ? h12 + 12 : h12;
  }

  #readRegister(i: number): number {
    if (TIME_FIELDS.has(i)) {
      const f = fieldsOf(this.guestTimeMs());
      switch (i) {
        case RTC_SECONDS:
          return this.#enc(f.sec);
        case RTC_MINUTES:
          return this.#enc(f.min);
        case RTC_HOURS:
          return this.#encHour(f.hour);
        case RTC_DAY_OF_WEEK:
          return this.#enc(f.wday);
        case RTC_DAY_OF_MONTH:
          return this.#enc(f.mday);
        case RTC_MONTH:
          return this.#enc(f.mon);
        case RTC_YEAR:
          return this.#enc(f.year % 100);
        case RTC_CENTURY:
          return this.#enc(Math.floor(f.year / 100) % 100);
      }
    }
    if (i === RTC_REG_A) {
      let a = this.#ram[RTC_REG_A] & ~RTC_REG_A_UIP;
      if (this.#frozenMs === null) {
        const t = this.guestTimeMs();
        const intoSecond = t - Math.floor(t / 1000) * 1000;
        if (intoSecond >= 1000 - UIP_WINDOW_MS) a |= RTC_REG_A_UIP;
      }
      return a;
    }
    if (i === RTC_REG_C) {
      const c = this.#ram[RTC_REG_C];
      this.#ram[RTC_REG_C] = 0; // reading C acknowledges the interrupt flags
      return c;
    }
    if (i === RTC_REG_D) return RTC_REG_D_VRT;
    return this.#ram[i];
  }

  #writeRegister(i: number, v: number): void {
    if (TIME_FIELDS.has(i)) {
      const base = this.guestTimeMs();
      const f = fieldsOf(base);
      switch (i) {
        case RTC_SECONDS:
          f.sec = this.#dec(v);
          break;
        case RTC_MINUTES:
          f.min = this.#dec(v);
          break;
        case RTC_HOURS:
          f.hour = this.#decHour(v);
          break;
        case RTC_DAY_OF_WEEK:
          return; // derived from the date
        case RTC_DAY_OF_MONTH:
          f.mday = this.#dec(v);
          break;
        case RTC_MONTH:
          f.mon = this.#dec(v);
          break;
        case RTC_YEAR:
          f.year = Math.floor(f.year / 100) * 100 + (this.#dec(v) % 100);
          break;
        case RTC_CENTURY:
          f.year = (this.#dec(v) % 100) * 100 + (f.year % 100);
          break;
      }
      const ms = msOf(f);
      // A nonsense value (bad BCD, month 0x99) still yields a finite time; an impossible one is ignored.
      if (!Number.isFinite(ms)) return;
      if (this.#frozenMs !== null) this.#frozenMs = ms;
      else this.#offsetMs = ms - Math.floor(this.#now() / 1000) * 1000;
      return;
    }
    switch (i) {
      case RTC_REG_A:
        this.#ram[RTC_REG_A] = v & ~RTC_REG_A_UIP; // UIP is read-only
        return;
      case RTC_REG_B: {
        const wasSet = (this.#ram[RTC_REG_B] & RTC_REG_B_SET) !== 0;
        const isSet = (v & RTC_REG_B_SET) !== 0;
        if (!wasSet && isSet) {
          this.#frozenMs = Math.floor(this.guestTimeMs() / 1000) * 1000;
        } else if (wasSet && !isSet && this.#frozenMs !== null) {
          this.#offsetMs = this.#frozenMs - this.#now();
          this.#frozenMs = null;
        }
        this.#ram[RTC_REG_B] = v;
        return;
      }
      case RTC_REG_C:
      case RTC_REG_D:
        return; // read-only
      default:
        this.#ram[i] = v;
    }
  }

  /** Sets a CMOS RAM byte from the host (e.g. memory sizes for firmware); time registers are not RAM. */
  setRamByte(index: number, value: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= CMOS_SIZE || TIME_FIELDS.has(index) || index <= RTC_REG_D) {
      throw new SuperIoError("INVALID_ARGUMENT", `CMOS index ${index} is not a RAM byte`, { field: "index" });
    }
    if (!Number.isInteger(value) || value < 0 || value > 0xff) {
      throw new SuperIoError("INVALID_ARGUMENT", `CMOS value ${value} is not a byte`, { field: "value" });
    }
    this.#ram[index] = value;
  }

  state(): CmosRtcState {
    return {
      index: this.#index,
      nmiMasked: this.#nmiMasked,
      ram: Array.from(this.#ram),
      offsetMs: this.#offsetMs,
      frozenMs: this.#frozenMs,
    };
  }

  static fromState(state: CmosRtcState, options: CmosRtcOptions = {}): CmosRtc {
    const bad = (field: string, why: string) =>
      new SuperIoError("INVALID_STATE", `CMOS state: ${field} ${why}`, { field });
    if (state === null || typeof state !== "object") throw bad("state", "must be an object");
    if (!Number.isInteger(state.index) || state.index < 0 || state.index >= CMOS_SIZE)
      throw bad("index", "must be 0..127");
    if (typeof state.nmiMasked !== "boolean") throw bad("nmiMasked", "must be a boolean");
    if (!Array.isArray(state.ram) || state.ram.length !== CMOS_SIZE) throw bad("ram", "must hold 128 bytes");
    for (const b of state.ram) if (!Number.isInteger(b) || b < 0 || b > 0xff) throw bad("ram", "holds a non-byte");
    if (typeof state.offsetMs !== "number" || !(Math.abs(state.offsetMs) <= MAX_OFFSET_MS))
      throw bad("offsetMs", "must be a finite offset within 3000 years");
    if (state.frozenMs !== null && (typeof state.frozenMs !== "number" || !(Math.abs(state.frozenMs) <= MAX_DATE_MS)))
      throw bad("frozenMs", "must be null or a valid time");
    const rtc = new CmosRtc(options);
    rtc.#index = state.index;
    rtc.#nmiMasked = state.nmiMasked;
    rtc.#ram.set(state.ram);
    rtc.#offsetMs = state.offsetMs;
    rtc.#frozenMs = state.frozenMs;
    return rtc;
  }
}
