import { type CompileOptions, compileFilter } from "./compile.js";
import { parseFilters } from "./frontend.js";
import { type SeccompAction, SeccompFilter } from "./model.js";
import type { TargetArch } from "./syscalls/index.js";

/** A compiled filter of a JSON document. */
export interface CompiledFilter {
  filter: SeccompFilter;
  /** Raw sock_filter bytes for seccomp(2). */
  program: Uint8Array;
}

/**
 * Parses and compiles a Firecracker seccomp JSON document: one program per
 * filter, in file order. Throws typed errors naming the place.
 */
export function compileJson(
  json: string,
  options: { arch?: TargetArch } & Omit<CompileOptions, "name"> = {},
): Map<string, CompiledFilter> {
  const out = new Map<string, CompiledFilter>();
  for (const [name, filter] of parseFilters(json, options.arch ?? "x86_64")) {
    const opts: CompileOptions = { name };
    if (options.strategy !== undefined) opts.strategy = options.strategy;
    out.set(name, { filter, program: compileFilter(filter, opts) });
  }
  return out;
}

export interface UserNotifFilterOptions {
  /** Syscalls (names or numbers) the kernel runs directly; every other one is notified. */
  allow: ReadonlyArray<string | number>;
  arch?: TargetArch;
  /** The action for everything else; default "user_notif". */
  otherwise?: SeccompAction;
}

/**
 * The filter of a user-notification sandbox: SECCOMP_RET_USER_NOTIF for every
 * syscall except `allow`, which the kernel runs. Install it with
 * SECCOMP_FILTER_FLAG_NEW_LISTENER (e.g. `spawnWithFilter({ seccompFlags })`).
 */
export function userNotifFilter(options: UserNotifFilterOptions): Uint8Array {
  const filter = new SeccompFilter({
    rules: options.allow.map((s) => [s, []] as const),
    matchAction: "allow",
    mismatchAction: options.otherwise ?? "user_notif",
    arch: options.arch ?? "x86_64",
  });
  return compileFilter(filter);
}
