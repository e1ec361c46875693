import { hex, LoaderError } from "./errors.js";
import { checkGuestRange, type GuestMemoryTarget } from "./memory.js";

function err(code: ConstructorParameters<typeof LoaderError>[0], field: string, message: string): never {
  throw new LoaderError(code, message, { field });
}

function checkAscii(s: string, field: string): void {
  if (typeof s !== "string") err("INVALID_ARGUMENT", field, `${field} must be a string`);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e)
      err("CMDLINE_INVALID_ASCII", field, `${field} has a character that is not printable ASCII at ${i}`);
  }
}

function checkKey(k: string): void {
  checkAscii(k, "key");
  if (k.length === 0) err("CMDLINE_MISSING_VALUE", "key", "the key is empty");
  if (k.includes(" ")) err("CMDLINE_HAS_SPACE", "key", `the key ${JSON.stringify(k)} has a space`);
  if (k.includes("=")) err("CMDLINE_HAS_EQUALS", "key", `the key ${JSON.stringify(k)} has an equals sign`);
  if (k.includes('"')) err("CMDLINE_INVALID_QUOTE", "key", `the key ${JSON.stringify(k)} has a quote`);
}

/** A value may be quoted as a whole ("a b"), which allows spaces; otherwise no spaces and no quotes. */
function checkValue(v: string): void {
  checkAscii(v, "value");
  if (v.length === 0) err("CMDLINE_MISSING_VALUE", "value", "the value is empty");
  const quoted = v.length >= 2 && v.startsWith('"') && v.endsWith('"');
  const inner = quoted ? v.slice(1, -1) : v;
  if (inner.includes('"'))
    err("CMDLINE_INVALID_QUOTE", "value", `quotes in ${JSON.stringify(v)} do not enclose the whole value`);
  if (!quoted && v.includes(" "))
    err("CMDLINE_HAS_SPACE", "value", `the value ${JSON.stringify(v)} has a space (quote it)`);
}

/** Quotes must pair up in a free-form string. */
function checkQuotes(s: string, field: string): void {
  let n = 0;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === 0x22) n++;
  if (n % 2 !== 0) err("CMDLINE_INVALID_QUOTE", field, `unbalanced quotes in ${JSON.stringify(s)}`);
}

function sizeToString(size: bigint): string {
  const K = 1n << 10n;
  const M = K << 10n;
  const G = M << 10n;
  if (size % G === 0n) return `${size / G}G`;
  if (size % M === 0n) return `${size / M}M`;
  if (size % K === 0n) return `${size / K}K`;
  return size.toString();
}

/**
 * A kernel command line built with rust-vmm's validation rules: printable ASCII only, keys without
 * spaces or `=`, values without spaces unless quoted as a whole, and a total length that, with its
 * NUL terminator, stays within `capacity`. Arguments after ` -- ` go to init.
 */
export class Cmdline {
  readonly capacity: number;
  #boot = "";
  #init = "";

  constructor(capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity <= 0) {
      err("INVALID_ARGUMENT", "capacity", `the capacity must be a positive integer, got ${String(capacity)}`);
    }
    this.capacity = capacity;
  }

  /** Parses an existing command line (boot args, then init args after " -- "). */
  static parse(line: string, capacity: number): Cmdline {
    const c = new Cmdline(capacity);
    checkAscii(line, "cmdline");
    const i = line.indexOf(" -- ");
    const boot = (i >= 0 ? line.slice(0, i) : line).trim();
    const init = i >= 0 ? line.slice(i + 4).trim() : "";
    if (boot.length > 0) c.insertStr(boot);
    if (init.length > 0) c.insertInitArgs(init);
    return c;
  }

  #render(boot: string, init: string): string {
    return init.length > 0 ? `${boot} -- ${init}` : boot;
  }

  #commit(boot: string, init: string): void {
    const s = this.#render(boot, init);
    if (s.length + 1 > this.capacity) {
      err(
        "CMDLINE_TOO_LARGE",
        "capacity",
        `the command line would be ${s.length + 1} bytes with its NUL, over the capacity ${this.capacity}`,
      );
    }
    this.#boot = boot;
    this.#init = init;
  }

  #append(cur: string, s: string): string {
    return cur.length > 0 ? `${cur} ${s}` : s;
  }

  /** Adds `key=value`. */
  insert(key: string, value: string): this {
    checkKey(key);
    checkValue(value);
    this.#commit(this.#append(this.#boot, `${key}=${value}`), this.#init);
    return this;
  }

  /** Adds `key=v1,v2,…`. */
  insertMultiple(key: string, values: readonly string[]): this {
    checkKey(key);
    if (values.length === 0) err("CMDLINE_MISSING_VALUE", "value", `no value for ${key}`);
    for (const v of values) checkValue(v);
    this.#commit(this.#append(this.#boot, `${key}=${values.join(",")}`), this.#init);
    return this;
  }

  /** Adds a free-form string (flags such as `noapic`, or several `k=v` already formed). */
  insertStr(s: string): this {
    checkAscii(s, "string");
    checkQuotes(s, "string");
    if (s.length === 0) return this;
    this.#commit(this.#append(this.#boot, s), this.#init);
    return this;
  }

  /** Adds arguments for init (after " -- "). */
  insertInitArgs(s: string): this {
    checkAscii(s, "init args");
    checkQuotes(s, "init args");
    if (s.length === 0) return this;
    this.#commit(this.#boot, this.#append(this.#init, s));
    return this;
  }

  /** Adds `virtio_mmio.device=<size>@0x<base>:<irq>[:<id>]`. */
  addVirtioMmioDevice(size: bigint | number, base: bigint | number, irq: number, id?: number): this {
    const sz = BigInt(size);
    const b = BigInt(base);
    if (sz <= 0n) err("CMDLINE_MMIO_SIZE", "size", "a virtio-mmio device of size 0");
    if (b < 0n) err("INVALID_ARGUMENT", "base", "a negative MMIO base");
    if (!Number.isInteger(irq) || irq < 0 || irq > 0xffff_ffff) err("INVALID_ARGUMENT", "irq", `invalid IRQ ${irq}`);
    if (id !== undefined && (!Number.isInteger(id) || id < 0 || id > 0xffff_ffff))
      err("INVALID_ARGUMENT", "id", `invalid id ${id}`);
    let s = `virtio_mmio.device=${sizeToString(sz)}@${hex(b)}:${irq}`;
    if (id !== undefined) s += `:${id}`;
    return this.insertStr(s);
  }

  get bootArgs(): string {
    return this.#boot;
  }
  get initArgs(): string {
    return this.#init;
  }

  toString(): string {
    return this.#render(this.#boot, this.#init);
  }

  /** The bytes with the NUL terminator. */
  toBytes(): Uint8Array {
    const s = this.toString();
    const b = new Uint8Array(s.length + 1);
    for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
    return b;
  }
}

/**
 * Writes the NUL-terminated command line at `addr`, after checking that it fits in guest memory
 * (and, if `maxSize` is given, e.g. the kernel's cmdline_size, that it is not longer).
 * Returns the length without the NUL.
 */
export function loadCmdline(mem: GuestMemoryTarget, addr: bigint, cmdline: Cmdline | string, maxSize?: number): number {
  const bytes = typeof cmdline === "string" ? Cmdline.parse(cmdline, cmdline.length + 1).toBytes() : cmdline.toBytes();
  if (maxSize !== undefined && bytes.length - 1 > maxSize) {
    err(
      "CMDLINE_TOO_LARGE",
      "cmdline_size",
      `the command line (${bytes.length - 1} bytes) exceeds the kernel's ${maxSize}`,
    );
  }
  checkGuestRange(mem, addr, BigInt(bytes.length), "cmdline");
  mem.writeSlice(bytes, addr);
  return bytes.length - 1;
}
