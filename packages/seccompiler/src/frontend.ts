/**
 * Firecracker's seccomp JSON format, parsed strictly: unknown fields, duplicate
 * keys, wrong types and out-of-range values are errors naming their place.
 *
 *   { "<name>": { "mismatch_action" | "default_action": ACTION,
 *                 "match_action" | "filter_action": ACTION,
 *                 "filter": [ { "syscall": "futex", "comment"?: "...",
 *                               "args"?: [ { "index": 0..5, "type": "dword"|"qword",
 *                                            "op": "eq"|"ne"|"lt"|"le"|"gt"|"ge"|{"masked_eq": MASK},
 *                                            "val": U64, "comment"?: "..." } ] } ] } }
 *
 *   ACTION = "allow" | "kill_thread" | "kill_process" | "log" | "trap" | "user_notif"
 *          | { "errno": N } | { "trace": N }
 */
import { FilterValidationError, SeccompError } from "./errors.js";
import { type JsonNode, parseJson } from "./json.js";
import {
  addRules,
  type CmpOp,
  resolveSyscall,
  type SeccompAction,
  SeccompCondition,
  SeccompFilter,
  SeccompRule,
  validateAction,
} from "./model.js";
import type { TargetArch } from "./syscalls/index.js";

type ObjectNode = Extract<JsonNode, { kind: "object" }>;

function typeError(node: JsonNode, want: string, path: string): never {
  throw new FilterValidationError("INVALID_TYPE", `expected ${want}, found ${node.kind}`, path, node.pos);
}

/** Rethrows a validation error with the JSON position of `node` when it has none. */
function at<T>(node: JsonNode, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof FilterValidationError && e.position === undefined) {
      throw new FilterValidationError(e.code, e.message.replace(/ \(at [^)]*\)$/, ""), e.path, node.pos);
    }
    throw e;
  }
}

/** Reads the fields of an object: each key must be known; aliases name one field. */
function fields(
  node: JsonNode,
  path: string,
  known: Record<string, string>,
): { get(field: string): JsonNode | undefined; node: ObjectNode } {
  if (node.kind !== "object") typeError(node, "an object", path);
  const found = new Map<string, JsonNode>();
  for (const e of node.entries) {
    const field = Object.hasOwn(known, e.key) ? known[e.key] : undefined;
    if (field === undefined) {
      throw new FilterValidationError("UNKNOWN_FIELD", `unknown field "${e.key}"`, `${path}.${e.key}`, e.keyPos);
    }
    if (found.has(field)) {
      throw new FilterValidationError(
        "DUPLICATE_KEY",
        `field "${field}" given twice (through an alias)`,
        `${path}.${e.key}`,
        e.keyPos,
      );
    }
    found.set(field, e.value);
  }
  return { get: (f) => found.get(f), node };
}

function required(f: { get(field: string): JsonNode | undefined; node: ObjectNode }, field: string, path: string) {
  const v = f.get(field);
  if (v === undefined) {
    throw new FilterValidationError("MISSING_FIELD", `missing field "${field}"`, path, f.node.pos);
  }
  return v;
}

function optional(f: { get(field: string): JsonNode | undefined }, field: string): JsonNode | undefined {
  const v = f.get(field);
  return v === undefined || v.kind === "null" ? undefined : v;
}

function u64(node: JsonNode, path: string): bigint {
  if (node.kind !== "number") typeError(node, "an integer", path);
  if (node.integer === undefined || node.integer < 0n || node.integer > 0xffffffffffffffffn) {
    throw new FilterValidationError("INVALID_VALUE", `${node.raw} is not an integer 0..2^64-1`, path, node.pos);
  }
  return node.integer;
}

function comment(node: JsonNode | undefined, path: string): void {
  if (node !== undefined && node.kind !== "string") typeError(node, "a string", path);
}

function parseAction(node: JsonNode, path: string): SeccompAction {
  if (node.kind === "string") return at(node, () => validateAction(node.value as SeccompAction, path));
  if (node.kind === "object" && node.entries.length === 1) {
    const e = node.entries[0]!;
    if (e.key === "errno" || e.key === "trace") {
      const v = u64(e.value, `${path}.${e.key}`);
      if (v > 0xffffn) {
        throw new FilterValidationError(
          "VALUE_OUT_OF_RANGE",
          `${e.key} value ${v} does not fit the 16-bit SECCOMP_RET_DATA`,
          `${path}.${e.key}`,
          e.value.pos,
        );
      }
      return e.key === "errno" ? { errno: Number(v) } : { trace: Number(v) };
    }
    throw new FilterValidationError("INVALID_ACTION", `unknown action "${e.key}"`, `${path}.${e.key}`, e.keyPos);
  }
  throw new FilterValidationError("INVALID_ACTION", "an action is a string or {errno|trace: N}", path, node.pos);
}

function parseOp(node: JsonNode, path: string): CmpOp {
  if (node.kind === "string") {
    if (["eq", "ne", "lt", "le", "gt", "ge"].includes(node.value)) return node.value as CmpOp;
    throw new FilterValidationError("INVALID_VALUE", `unknown operator "${node.value}"`, path, node.pos);
  }
  if (node.kind === "object") {
    const f = fields(node, path, { masked_eq: "masked_eq" });
    return { masked_eq: u64(required(f, "masked_eq", path), `${path}.masked_eq`) };
  }
  return typeError(node, "an operator", path);
}

function parseCondition(node: JsonNode, path: string): SeccompCondition {
  const f = fields(node, path, { index: "index", type: "type", op: "op", val: "val", comment: "comment" });
  const indexNode = required(f, "index", path);
  const index = u64(indexNode, `${path}.index`);
  if (index > 5n) {
    throw new FilterValidationError(
      "INVALID_ARG_INDEX",
      `argument index ${index} is out of range 0..5`,
      `${path}.index`,
      indexNode.pos,
    );
  }
  const typeNode = required(f, "type", path);
  if (typeNode.kind !== "string" || (typeNode.value !== "dword" && typeNode.value !== "qword")) {
    throw new FilterValidationError("INVALID_VALUE", `type must be "dword" or "qword"`, `${path}.type`, typeNode.pos);
  }
  const op = parseOp(required(f, "op", path), `${path}.op`);
  const valNode = required(f, "val", path);
  const val = u64(valNode, `${path}.val`);
  comment(optional(f, "comment"), `${path}.comment`);
  return at(valNode, () => new SeccompCondition(Number(index), typeNode.value as "dword", op, val, path));
}

/** Parses one filter object (`path` is its name). */
function parseFilter(node: JsonNode, path: string, arch: TargetArch): SeccompFilter {
  const f = fields(node, path, {
    mismatch_action: "mismatch_action",
    default_action: "mismatch_action",
    match_action: "match_action",
    filter_action: "match_action",
    filter: "filter",
  });
  const mismatchAction = parseAction(required(f, "mismatch_action", path), `${path}.mismatch_action`);
  const matchAction = parseAction(required(f, "match_action", path), `${path}.match_action`);
  const list = required(f, "filter", path);
  if (list.kind !== "array") typeError(list, "an array of rules", `${path}.filter`);
  const acc = new Map<number, SeccompRule[] | null>();
  list.items.forEach((item, i) => {
    const rp = `${path}.filter[${i}]`;
    const rf = fields(item, rp, { syscall: "syscall", comment: "comment", args: "args" });
    const sysNode = required(rf, "syscall", rp);
    if (sysNode.kind !== "string") typeError(sysNode, "a syscall name", `${rp}.syscall`);
    const nr = at(sysNode, () => resolveSyscall(sysNode.value, arch, `${rp}.syscall`));
    comment(optional(rf, "comment"), `${rp}.comment`);
    const args = optional(rf, "args");
    if (args === undefined) {
      addRules(acc, nr, null);
      return;
    }
    if (args.kind !== "array") typeError(args, "an array of conditions", `${rp}.args`);
    if (args.items.length === 0) {
      throw new FilterValidationError(
        "EMPTY_ARGS",
        "an empty args array (omit args to match any arguments)",
        `${rp}.args`,
        args.pos,
      );
    }
    const conds = args.items.map((c, j) => parseCondition(c, `${rp}.args[${j}]`));
    addRules(acc, nr, [new SeccompRule(conds, `${rp}.args`)]);
  });
  return at(
    node,
    () =>
      new SeccompFilter(
        { rules: [...acc.entries()].map(([nr, r]) => [nr, r ?? []] as const), mismatchAction, matchAction, arch },
        path,
      ),
  );
}

/**
 * Parses a Firecracker seccomp JSON document into its filters, in file order.
 * Every error is a {@link SeccompError} with a `code`, a `path` and a position.
 */
export function parseFilters(json: string, arch: TargetArch = "x86_64"): Map<string, SeccompFilter> {
  const root = parseJson(json, "");
  if (root.kind !== "object") typeError(root, "an object of named filters", "$");
  const out = new Map<string, SeccompFilter>();
  for (const e of root.entries) out.set(e.key, parseFilter(e.value, e.key, arch));
  return out;
}

export { SeccompError };
