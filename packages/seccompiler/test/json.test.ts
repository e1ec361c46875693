import { JsonSyntaxError, MAX_JSON_DEPTH, parseJson, toPlain } from "@kindling/seccompiler";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

function normalize(v: unknown): unknown {
  if (typeof v === "bigint") return Number(v);
  if (Array.isArray(v)) return v.map(normalize);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
  }
  return v;
}

describe("strict JSON parser", () => {
  it("keeps 64-bit integers exact and marks non-integers", () => {
    const n = parseJson('{"a": 18446744073709551615, "b": 1.0, "c": 1e3, "d": -0}');
    expect(toPlain(n)).toEqual({ a: 18446744073709551615n, b: 1, c: 1000, d: 0n });
    expect(n.kind === "object" && n.entries[1]!.value.kind === "number" && n.entries[1]!.value.integer).toBe(undefined);
  });

  it("rejects a duplicate key, naming it and its line", () => {
    const text = '{\n  "vmm": {"a": 1},\n  "vmm": {}\n}';
    try {
      parseJson(text, "");
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(JsonSyntaxError);
      expect(e).toMatchObject({ code: "DUPLICATE_KEY", path: "vmm", position: { line: 3, column: 3 } });
    }
    expect(() => parseJson('{"a": {"x": 1, "x": 2}}')).toThrowError(expect.objectContaining({ code: "DUPLICATE_KEY" }));
    // Escapes are decoded before comparing: "\u0061" is "a".
    expect(() => parseJson('{"a": 1, "\\u0061": 2}')).toThrowError(expect.objectContaining({ code: "DUPLICATE_KEY" }));
  });

  it.each([
    ["", "unexpected end"],
    ["{", "expected"],
    ['{"a" 1}', "':'"],
    ["[1,]", "unexpected"],
    ["[1 2]", "','"],
    ['"abc', "unterminated"],
    ['"a\nb"', "control"],
    ['"\\x"', "escape"],
    ["01", "trailing"],
    ["1.", "trailing"],
    ["-", "unexpected"],
    ["tru", "unexpected"],
    ["{} {}", "trailing"],
    ["NaN", "unexpected"],
    ["{'a': 1}", "key"],
  ])("rejects %j", (text, msg) => {
    expect(() => parseJson(text)).toThrowError(msg);
    expect(() => parseJson(text)).toThrowError(JsonSyntaxError);
  });

  it("refuses nesting deeper than the limit instead of overflowing the stack", () => {
    const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    expect(() => parseJson(deep)).toThrowError(expect.objectContaining({ code: "JSON_TOO_DEEP" }));
    const ok = `${"[".repeat(MAX_JSON_DEPTH)}${"]".repeat(MAX_JSON_DEPTH)}`;
    expect(() => parseJson(ok)).not.toThrow();
  });

  it("property: agrees with JSON.parse on any JSON text", () => {
    fc.assert(
      fc.property(fc.json(), (text) => {
        expect(normalize(toPlain(parseJson(text)))).toEqual(normalize(JSON.parse(text)));
      }),
      { numRuns: 300 },
    );
  });

  it("property: hostile text either parses or throws JsonSyntaxError", () => {
    const alphabet = fc.constantFrom(...'{}[]":,-.0123456789eE+ \n\\tfalsnu\u0000\u00e9x'.split(""));
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.array(alphabet, { maxLength: 60 }).map((a) => a.join("")),
        ),
        (text) => {
          try {
            parseJson(text);
          } catch (e) {
            expect(e).toBeInstanceOf(JsonSyntaxError);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
