// planJailRoot: what the jail's root is built from, checked without starting a jail.
import { mkdtempSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { planJailRoot } from "../src/jail.js";

describe("planJailRoot", () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), "jail-plan-")));
  const binds = (ops: ReturnType<typeof planJailRoot>) =>
    ops.flatMap((o) => (o.kind === "bind" ? [{ path: o.path, writable: o.writable }] : []));

  it("a :rw mount of a path the jail also shows read-only (the code root) stays writable, in either order", () => {
    // Same depth: the sort keeps the given order, and the first used to win (the mount came out read-only).
    for (const order of [
      [{ path: dir }, { path: dir, writable: true, noFollow: true }],
      [{ path: dir, writable: true, noFollow: true }, { path: dir }],
    ]) {
      expect(binds(planJailRoot(order))).toEqual([{ path: dir, writable: true }]);
    }
  });

  it("a read-only exposure of a path does not make it writable", () => {
    expect(binds(planJailRoot([{ path: dir }, { path: dir }]))).toEqual([{ path: dir, writable: false }]);
  });
});
