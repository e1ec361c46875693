/** Values taken from the host, for embedders that want the sandbox to look like it. */
import { syscallRaw } from "@kindling/sys-util/unsafe";
import { RLIM_NLIMITS } from "./abi.js";

const SYS_prlimit64 = 302;

/**
 * The host process's resource limits (prlimit64 on itself), in the shape of
 * `LibosOptions.rlimits`: pass them to make `ulimit` inside match the host.
 */
export function hostRlimits(): Record<number, readonly [bigint, bigint]> {
  const out: Record<number, readonly [bigint, bigint]> = {};
  const buf = new BigUint64Array(2);
  for (let r = 0; r < RLIM_NLIMITS; r++) {
    if (syscallRaw(SYS_prlimit64, 0, r, 0, buf) === 0) out[r] = [buf[0], buf[1]];
  }
  return out;
}
