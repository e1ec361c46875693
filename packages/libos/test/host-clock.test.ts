// The host clock's monotonic reading is the host's CLOCK_MONOTONIC (not a
// process-relative one): on the seccomp platform a program reads
// CLOCK_MONOTONIC natively (vDSO) and passes it back to clock_nanosleep
// with TIMER_ABSTIME; a different origin made such a sleep last for hours.
import { hostClock } from "@kindling/libos";
import { syscall } from "@kindling/sys-util/unsafe";
import { describe, expect, it } from "vitest";

const SYS_clock_gettime = 228;
const CLOCK_MONOTONIC = 1;

function hostMonotonicMs(): number {
  const ts = new BigInt64Array(2);
  syscall(SYS_clock_gettime, CLOCK_MONOTONIC, ts);
  return Number(ts[0]) * 1000 + Number(ts[1]) / 1e6;
}

describe("hostClock", () => {
  it("monotonicMs reads the host's CLOCK_MONOTONIC", () => {
    const before = hostMonotonicMs();
    const ours = hostClock.monotonicMs();
    const after = hostMonotonicMs();
    // Bracketed by two direct readings (1 ms of slack for rounding).
    expect(ours).toBeGreaterThanOrEqual(before - 1);
    expect(ours).toBeLessThanOrEqual(after + 1);
  });
  it("never goes back", () => {
    let prev = hostClock.monotonicMs();
    for (let i = 0; i < 10000; i++) {
      const now = hostClock.monotonicMs();
      expect(now).toBeGreaterThanOrEqual(prev);
      prev = now;
    }
  });
});
