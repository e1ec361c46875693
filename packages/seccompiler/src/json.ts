/**
 * A strict JSON parser (RFC 8259) that keeps what JSON.parse throws away:
 * duplicate keys are an error, every value knows its line and column, and
 * integer literals are exact `bigint`s (64-bit values survive).
 */
import { JsonSyntaxError, type SourcePosition } from "./errors.js";

export type JsonNode =
  | { kind: "object"; entries: JsonEntry[]; pos: SourcePosition }
  | { kind: "array"; items: JsonNode[]; pos: SourcePosition }
  | { kind: "string"; value: string; pos: SourcePosition }
  /** `integer` is set when the literal has no fraction and no exponent. */
  | { kind: "number"; raw: string; integer: bigint | undefined; pos: SourcePosition }
  | { kind: "boolean"; value: boolean; pos: SourcePosition }
  | { kind: "null"; pos: SourcePosition };

export interface JsonEntry {
  key: string;
  keyPos: SourcePosition;
  value: JsonNode;
}

/** Nesting deeper than this is refused (a filter file nests 5 levels). */
export const MAX_JSON_DEPTH = 256;

const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;

/** Parses `text`; `path` names the root in error messages. */
export function parseJson(text: string, rootPath = "$"): JsonNode {
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const pos = (): SourcePosition => ({ line, column: i - lineStart + 1 });
  const fail = (msg: string, path: string, code: "JSON_SYNTAX" | "JSON_TOO_DEEP" = "JSON_SYNTAX"): never => {
    throw new JsonSyntaxError(code, msg, path, pos());
  };

  const ws = () => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0d) i++;
      else if (c === 0x0a) {
        i++;
        line++;
        lineStart = i;
      } else return;
    }
  };

  const str = (path: string): string => {
    // at the opening quote
    i++;
    let out = "";
    let start = i;
    for (;;) {
      if (i >= text.length) fail("unterminated string", path);
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(start, i);
        i++;
        return out;
      }
      if (c < 0x20) fail("control character in a string", path);
      if (c === 0x5c) {
        out += text.slice(start, i);
        const e = text[i + 1];
        switch (e) {
          case '"':
            out += '"';
            break;
          case "\\":
            out += "\\";
            break;
          case "/":
            out += "/";
            break;
          case "b":
            out += "\b";
            break;
          case "f":
            out += "\f";
            break;
          case "n":
            out += "\n";
            break;
          case "r":
            out += "\r";
            break;
          case "t":
            out += "\t";
            break;
          case "u": {
            const hex = text.slice(i + 2, i + 6);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail("bad \\u escape", path);
            out += String.fromCharCode(Number.parseInt(hex, 16));
            i += 4;
            break;
          }
          default:
            fail("bad escape in a string", path);
        }
        i += 2;
        start = i;
        continue;
      }
      i++;
    }
  };

  const value = (path: string, depth: number): JsonNode => {
    if (depth > MAX_JSON_DEPTH) fail(`nesting deeper than ${MAX_JSON_DEPTH}`, path, "JSON_TOO_DEEP");
    ws();
    const p = pos();
    const c = text[i];
    if (c === "{") {
      i++;
      const entries: JsonEntry[] = [];
      const seen = new Set<string>();
      ws();
      if (text[i] === "}") {
        i++;
        return { kind: "object", entries, pos: p };
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail("expected a string key", path);
        const keyPos = pos();
        const key = str(path);
        const childPath = path === "" ? key : `${path}.${key}`;
        if (seen.has(key)) {
          throw new JsonSyntaxError("DUPLICATE_KEY", `duplicate key "${key}"`, childPath, keyPos);
        }
        seen.add(key);
        ws();
        if (text[i] !== ":") fail("expected ':'", childPath);
        i++;
        const v = value(childPath, depth + 1);
        entries.push({ key, keyPos, value: v });
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return { kind: "object", entries, pos: p };
        }
        fail("expected ',' or '}'", path);
      }
    }
    if (c === "[") {
      i++;
      const items: JsonNode[] = [];
      ws();
      if (text[i] === "]") {
        i++;
        return { kind: "array", items, pos: p };
      }
      for (;;) {
        items.push(value(`${path}[${items.length}]`, depth + 1));
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return { kind: "array", items, pos: p };
        }
        fail("expected ',' or ']'", path);
      }
    }
    if (c === '"') return { kind: "string", value: str(path), pos: p };
    if (c === "t" && text.startsWith("true", i)) {
      i += 4;
      return { kind: "boolean", value: true, pos: p };
    }
    if (c === "f" && text.startsWith("false", i)) {
      i += 5;
      return { kind: "boolean", value: false, pos: p };
    }
    if (c === "n" && text.startsWith("null", i)) {
      i += 4;
      return { kind: "null", pos: p };
    }
    NUMBER_RE.lastIndex = i;
    const m = NUMBER_RE.exec(text);
    if (m !== null && m[0] !== "" && m[0] !== "-") {
      i += m[0].length;
      const integer = m[1] === undefined && m[2] === undefined ? BigInt(m[0]) : undefined;
      return { kind: "number", raw: m[0], integer, pos: p };
    }
    return fail(i >= text.length ? "unexpected end of input" : `unexpected character ${JSON.stringify(c)}`, path);
  };

  const root = value(rootPath, 0);
  ws();
  if (i < text.length) fail("trailing characters after the JSON value", rootPath);
  return root;
}

/** The plain JavaScript value of a node (integers as bigint). For tests and tools. */
export function toPlain(node: JsonNode): unknown {
  switch (node.kind) {
    case "object": {
      const o: Record<string, unknown> = Object.create(null);
      for (const e of node.entries) o[e.key] = toPlain(e.value);
      return o;
    }
    case "array":
      return node.items.map(toPlain);
    case "number":
      return node.integer ?? Number(node.raw);
    case "null":
      return null;
    default:
      return node.value;
  }
}
