// /dev: null, zero, full, random, urandom, tty (when a terminal is attached),
// and the stdin/stdout/stderr/fd links into /proc/self.

import { ENXIO } from "../errno.js";
import { FullDevice, NullDevice, RandomDevice, SynthFs, type SynthNode, ZeroDevice } from "./synth.js";
import { type FileDescription, fail } from "./types.js";

export interface DevfsOptions {
  /** Random bytes for /dev/random and /dev/urandom. */
  random: (buf: Uint8Array) => void;
  /** A new description of the controlling terminal, or null when none is attached (ENXIO). */
  tty?: (flags: number) => FileDescription | null;
}

export function createDevfs(o: DevfsOptions): SynthFs {
  const dev = (rdev: [number, number], open: (flags: number) => FileDescription, mode = 0o666): SynthNode => ({
    kind: "dev",
    rdev,
    mode,
    open,
  });
  const entries = new Map<string, SynthNode>([
    ["null", dev([1, 3], (f) => new NullDevice(f, null))],
    ["zero", dev([1, 5], (f) => new ZeroDevice(f, null))],
    ["full", dev([1, 7], (f) => new FullDevice(f, null))],
    ["random", dev([1, 8], (f) => new RandomDevice(f, o.random))],
    ["urandom", dev([1, 9], (f) => new RandomDevice(f, o.random))],
    ["stdin", { kind: "link", target: () => "/proc/self/fd/0" }],
    ["stdout", { kind: "link", target: () => "/proc/self/fd/1" }],
    ["stderr", { kind: "link", target: () => "/proc/self/fd/2" }],
    ["fd", { kind: "link", target: () => "/proc/self/fd" }],
  ]);
  if (o.tty) {
    const open = o.tty;
    entries.set(
      "tty",
      dev([5, 0], (f) => open(f) ?? fail(ENXIO)),
    );
  }
  return new SynthFs("devtmpfs", () => entries);
}
