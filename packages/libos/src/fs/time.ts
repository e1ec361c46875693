import type { Timespec } from "./types.js";

/** The clock file systems stamp times with (CLOCK_REALTIME); replaceable for tests and virtual time. */
export const fsClock = {
  now(): Timespec {
    const ns = BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
    return { sec: Number(ns / 1_000_000_000n), nsec: Number(ns % 1_000_000_000n) };
  },
};
