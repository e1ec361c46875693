/**
 * A fixed-size value codec: how `readObj`/`writeObj` turn bytes into a value
 * and back. `decode` and `encode` must touch only `[offset, offset + size)`.
 */
export interface ByteCodec<T> {
  readonly size: number;
  decode(view: DataView, offset: number): T;
  encode(value: T, view: DataView, offset: number): void;
}

/** Little-endian primitive codecs. */
export const codecs = {
  u8: { size: 1, decode: (v, o) => v.getUint8(o), encode: (x, v, o) => v.setUint8(o, x) } as ByteCodec<number>,
  u16: {
    size: 2,
    decode: (v, o) => v.getUint16(o, true),
    encode: (x, v, o) => v.setUint16(o, x, true),
  } as ByteCodec<number>,
  u32: {
    size: 4,
    decode: (v, o) => v.getUint32(o, true),
    encode: (x, v, o) => v.setUint32(o, x, true),
  } as ByteCodec<number>,
  u64: {
    size: 8,
    decode: (v, o) => v.getBigUint64(o, true),
    encode: (x, v, o) => v.setBigUint64(o, x, true),
  } as ByteCodec<bigint>,
  i8: { size: 1, decode: (v, o) => v.getInt8(o), encode: (x, v, o) => v.setInt8(o, x) } as ByteCodec<number>,
  i16: {
    size: 2,
    decode: (v, o) => v.getInt16(o, true),
    encode: (x, v, o) => v.setInt16(o, x, true),
  } as ByteCodec<number>,
  i32: {
    size: 4,
    decode: (v, o) => v.getInt32(o, true),
    encode: (x, v, o) => v.setInt32(o, x, true),
  } as ByteCodec<number>,
  i64: {
    size: 8,
    decode: (v, o) => v.getBigInt64(o, true),
    encode: (x, v, o) => v.setBigInt64(o, x, true),
  } as ByteCodec<bigint>,
} as const;
