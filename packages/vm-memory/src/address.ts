import { GuestMemoryError, hex } from "./errors.js";

/** 2^64 - 1. */
export const U64_MAX = (1n << 64n) - 1n;
const U64_MOD = 1n << 64n;

/** Converts a number/bigint to a u64 bigint or throws INVALID_ARGUMENT. */
export function toU64(v: bigint | number, what = "value"): bigint {
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new GuestMemoryError("INVALID_ARGUMENT", `${what} ${v} is not a non-negative safe integer`);
    }
    return BigInt(v);
  }
  if (typeof v !== "bigint" || v < 0n || v > U64_MAX) {
    throw new GuestMemoryError("INVALID_ARGUMENT", `${what} ${String(v)} is not a u64`);
  }
  return v;
}

function checkPower(power: bigint | number): bigint {
  const p = toU64(power, "alignment");
  if (p === 0n || (p & (p - 1n)) !== 0n) {
    throw new GuestMemoryError("INVALID_ARGUMENT", `alignment ${p} is not a power of two`);
  }
  return p;
}

/**
 * A 64-bit address. Every arithmetic operation says what it does on overflow:
 * `checked*` returns undefined, the plain form (`add`, `sub`, `alignUp`) throws
 * ADDRESS_OVERFLOW, `overflowing*` returns the wrapped value and a flag, and
 * `wrapping*` (alias `unchecked*`) wraps modulo 2^64 explicitly.
 */
export abstract class AddressValue {
  /** The raw value, 0 <= value < 2^64. */
  readonly value: bigint;

  constructor(value: bigint | number) {
    this.value = toU64(value, "address");
  }

  protected abstract create(v: bigint): this;

  rawValue(): bigint {
    return this.value;
  }

  /** The value as a number; throws ADDRESS_OVERFLOW above 2^53 - 1. */
  toNumber(): number {
    if (this.value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new GuestMemoryError("ADDRESS_OVERFLOW", `${hex(this.value)} does not fit a safe integer`, {
        addr: this.value,
      });
    }
    return Number(this.value);
  }

  checkedAdd(offset: bigint | number): this | undefined {
    const r = this.value + toU64(offset, "offset");
    return r > U64_MAX ? undefined : this.create(r);
  }
  add(offset: bigint | number): this {
    const r = this.checkedAdd(offset);
    if (r === undefined) {
      throw new GuestMemoryError("ADDRESS_OVERFLOW", `${hex(this.value)} + ${offset} overflows 64 bits`, {
        addr: this.value,
      });
    }
    return r;
  }
  overflowingAdd(offset: bigint | number): [this, boolean] {
    const r = this.value + toU64(offset, "offset");
    return [this.create(r % U64_MOD), r > U64_MAX];
  }
  wrappingAdd(offset: bigint | number): this {
    return this.create((this.value + toU64(offset, "offset")) % U64_MOD);
  }
  /** Same as {@link wrappingAdd}: wraps modulo 2^64 (explicitly unchecked). */
  uncheckedAdd(offset: bigint | number): this {
    return this.wrappingAdd(offset);
  }

  checkedSub(offset: bigint | number): this | undefined {
    const r = this.value - toU64(offset, "offset");
    return r < 0n ? undefined : this.create(r);
  }
  sub(offset: bigint | number): this {
    const r = this.checkedSub(offset);
    if (r === undefined) {
      throw new GuestMemoryError("ADDRESS_OVERFLOW", `${hex(this.value)} - ${offset} underflows`, {
        addr: this.value,
      });
    }
    return r;
  }
  overflowingSub(offset: bigint | number): [this, boolean] {
    const r = this.value - toU64(offset, "offset");
    return [this.create(((r % U64_MOD) + U64_MOD) % U64_MOD), r < 0n];
  }
  wrappingSub(offset: bigint | number): this {
    return this.overflowingSub(offset)[0];
  }
  uncheckedSub(offset: bigint | number): this {
    return this.wrappingSub(offset);
  }

  /** `this - base`, or undefined when base > this. */
  checkedOffsetFrom(base: AddressValue): bigint | undefined {
    const r = this.value - base.value;
    return r < 0n ? undefined : r;
  }
  /** `this - base` modulo 2^64. */
  uncheckedOffsetFrom(base: AddressValue): bigint {
    return (((this.value - base.value) % U64_MOD) + U64_MOD) % U64_MOD;
  }

  /** Rounds up to a multiple of `power` (a power of two); undefined on overflow. */
  checkedAlignUp(power: bigint | number): this | undefined {
    const p = checkPower(power);
    const r = (this.value + p - 1n) & ~(p - 1n);
    return r > U64_MAX ? undefined : this.create(r);
  }
  alignUp(power: bigint | number): this {
    const r = this.checkedAlignUp(power);
    if (r === undefined) {
      throw new GuestMemoryError("ADDRESS_OVERFLOW", `aligning ${hex(this.value)} up to ${power} overflows`, {
        addr: this.value,
      });
    }
    return r;
  }
  /** Rounds up modulo 2^64 (an address within `power` of 2^64 becomes 0). */
  uncheckedAlignUp(power: bigint | number): this {
    const p = checkPower(power);
    return this.create(((this.value + p - 1n) & ~(p - 1n)) % U64_MOD);
  }
  alignDown(power: bigint | number): this {
    const p = checkPower(power);
    return this.create(this.value & ~(p - 1n));
  }
  isAligned(power: bigint | number): boolean {
    const p = checkPower(power);
    return (this.value & (p - 1n)) === 0n;
  }
  mask(mask: bigint | number): bigint {
    return this.value & toU64(mask, "mask");
  }

  equals(other: AddressValue): boolean {
    return this.value === other.value;
  }
  compare(other: AddressValue): number {
    return this.value < other.value ? -1 : this.value > other.value ? 1 : 0;
  }
  toString(): string {
    return hex(this.value);
  }
}

/** An address in the guest's physical address space. */
export class GuestAddress extends AddressValue {
  protected create(v: bigint): this {
    return new GuestAddress(v) as this;
  }
}

/** An offset from the start of one memory region. */
export class MemoryRegionAddress extends AddressValue {
  protected create(v: bigint): this {
    return new MemoryRegionAddress(v) as this;
  }
}

/** What the Bytes methods accept as an address: a GuestAddress, or a plain bigint/number (fast path). */
export type AddressLike = AddressValue | bigint | number;

/**
 * An address as a number for lookups; -1 when it cannot be valid (negative,
 * not an integer, or at/above 2^53: no region reaches that high).
 */
export function addrToNumber(a: AddressLike): number {
  if (typeof a === "number") return Number.isSafeInteger(a) && a >= 0 ? a : -1;
  const v = typeof a === "bigint" ? a : a.value;
  return v >= 0n && v <= 9007199254740991n ? Number(v) : -1;
}
