/**
 * Typed codecs for C structs: each field has a name (the C field's name), an
 * offset and a type. A test compiles a C program against <linux/kvm.h> and
 * checks every size and offset declared here.
 */

export type Scalar = "u8" | "u16" | "u32" | "i32" | "u64" | "i64";
export type FieldType =
  | Scalar
  | { bytes: number }
  | { struct: StructCodec<object> }
  | { array: Scalar | { struct: StructCodec<object> }; count: number };

export interface FieldDef {
  readonly name: string;
  readonly offset: number;
  readonly type: FieldType;
}

export class CodecError extends Error {
  override readonly name = "CodecError";
  readonly code = "ECODEC";
}

const SCALAR_SIZE: Record<Scalar, number> = { u8: 1, u16: 2, u32: 4, i32: 4, u64: 8, i64: 8 };

export function fieldSize(t: FieldType): number {
  if (typeof t === "string") return SCALAR_SIZE[t];
  if ("bytes" in t) return t.bytes;
  if ("struct" in t) return t.struct.size;
  return fieldSize(t.array) * t.count;
}

function decodeField(t: FieldType, v: DataView, off: number): unknown {
  if (typeof t === "string") {
    switch (t) {
      case "u8":
        return v.getUint8(off);
      case "u16":
        return v.getUint16(off, true);
      case "u32":
        return v.getUint32(off, true);
      case "i32":
        return v.getInt32(off, true);
      case "u64":
        return v.getBigUint64(off, true);
      case "i64":
        return v.getBigInt64(off, true);
    }
  }
  if ("bytes" in t) return new Uint8Array(v.buffer.slice(v.byteOffset + off, v.byteOffset + off + t.bytes));
  if ("struct" in t) return t.struct.decode(v, off);
  const n = fieldSize(t.array);
  const out: unknown[] = [];
  for (let i = 0; i < t.count; i++) out.push(decodeField(t.array, v, off + i * n));
  return out;
}

function encodeField(t: FieldType, value: unknown, v: DataView, off: number, where: string): void {
  if (typeof t === "string") {
    switch (t) {
      case "u8":
        v.setUint8(off, Number(value ?? 0));
        return;
      case "u16":
        v.setUint16(off, Number(value ?? 0), true);
        return;
      case "u32":
        v.setUint32(off, Number(value ?? 0) >>> 0, true);
        return;
      case "i32":
        v.setInt32(off, Number(value ?? 0) | 0, true);
        return;
      case "u64":
        v.setBigUint64(off, BigInt.asUintN(64, BigInt((value as bigint | number | undefined) ?? 0)), true);
        return;
      case "i64":
        v.setBigInt64(off, BigInt.asIntN(64, BigInt((value as bigint | number | undefined) ?? 0)), true);
        return;
    }
  }
  if ("bytes" in t) {
    const src = (value as Uint8Array | undefined) ?? new Uint8Array(0);
    if (src.length > t.bytes) throw new CodecError(`${where}: ${src.length} bytes do not fit ${t.bytes}`);
    new Uint8Array(v.buffer, v.byteOffset + off, t.bytes).fill(0).set(src);
    return;
  }
  if ("struct" in t) {
    t.struct.encode((value ?? t.struct.zero()) as object, v, off);
    return;
  }
  const arr = (value as unknown[] | undefined) ?? [];
  if (arr.length > t.count) throw new CodecError(`${where}: ${arr.length} elements do not fit ${t.count}`);
  const n = fieldSize(t.array);
  for (let i = 0; i < t.count; i++) encodeField(t.array, arr[i], v, off + i * n, `${where}[${i}]`);
}

/** A fixed-size C struct. */
export class StructCodec<T extends object> {
  readonly fields: readonly FieldDef[];
  readonly byName: ReadonlyMap<string, FieldDef>;

  constructor(
    readonly name: string,
    readonly size: number,
    fields: ReadonlyArray<readonly [string, FieldType, number]>,
  ) {
    this.fields = fields.map(([n, type, offset]) => ({ name: n, type, offset }));
    this.byName = new Map(this.fields.map((f) => [f.name, f]));
    for (const f of this.fields) {
      if (f.offset + fieldSize(f.type) > size) {
        throw new CodecError(`${name}.${f.name} overruns the struct (${f.offset}+${fieldSize(f.type)} > ${size})`);
      }
    }
  }

  decode(view: DataView, offset = 0): T {
    if (offset < 0 || offset + this.size > view.byteLength) {
      throw new CodecError(`${this.name}: ${this.size} bytes at ${offset} outside a ${view.byteLength}-byte view`);
    }
    const out: Record<string, unknown> = {};
    for (const f of this.fields) out[f.name] = decodeField(f.type, view, offset + f.offset);
    return out as T;
  }

  encode(value: T, view: DataView, offset = 0): void {
    if (offset < 0 || offset + this.size > view.byteLength) {
      throw new CodecError(`${this.name}: ${this.size} bytes at ${offset} outside a ${view.byteLength}-byte view`);
    }
    new Uint8Array(view.buffer, view.byteOffset + offset, this.size).fill(0);
    const rec = value as Record<string, unknown>;
    for (const f of this.fields) encodeField(f.type, rec[f.name], view, offset + f.offset, `${this.name}.${f.name}`);
  }

  /** A fresh buffer holding `value` encoded. */
  toBytes(value: T): Uint8Array {
    const b = new Uint8Array(this.size);
    this.encode(value, new DataView(b.buffer));
    return b;
  }

  fromBytes(bytes: Uint8Array): T {
    return this.decode(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }

  /** The all-zero value. */
  zero(): T {
    return this.decode(new DataView(new ArrayBuffer(this.size)));
  }
}
