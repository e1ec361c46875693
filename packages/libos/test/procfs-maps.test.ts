// /proc/self/maps of a host process (seccomp) in sandbox terms: no host path,
// device or inode number reaches the program.
import { vfs } from "@kindling/libos";
import { describe, expect, it } from "vitest";

const host = [
  "00400000-00401000 r--p 00000000 fd:01 1234                               /home/op/build/prog",
  "00401000-00402000 r-xp 00001000 fd:01 1234                               /home/op/build/prog",
  "7f0000000000-7f0000001000 rw-s 00000000 00:01 99                         /memfd:kindling (deleted)",
  "7f0000002000-7f0000003000 r--p 00000000 fd:01 55                         /srv/data/sub/file.bin",
  "7f0000004000-7f0000005000 r--p 00000000 fd:01 56                         /srv/data-other/x",
  "7f0000006000-7f0000007000 r--p 00000000 fd:01 57                         /srv/root/lib/a.so (deleted)",
  "7f0000008000-7f0000009000 r--p 00000000 fd:01 58                         /etc/ld.so.cache",
  "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]",
  "7ffd00022000-7ffd00023000 r--p 00000000 00:00 0                          [vvar]",
  "7ffd00024000-7ffd00025000 rw-p 00000000 00:00 0 ",
  "",
].join("\n");

describe("sandboxMaps", () => {
  const got = vfs.sandboxMaps(host, {
    hostExe: "/home/op/build/prog",
    exe: "/.kindling/prog",
    mounts: [
      { host: "/srv/data", path: "/data" },
      { host: "/srv/root", path: "/" },
    ],
  });
  const lines = got.split("\n").slice(0, -1); // every line ends with a newline
  const name = (l: string) => l.slice(73);
  it("names the program, mounted files and the kernel's regions in sandbox terms", () => {
    expect(lines).toHaveLength(10);
    expect(name(lines[0])).toBe("/.kindling/prog");
    expect(name(lines[1])).toBe("/.kindling/prog");
    expect(name(lines[3])).toBe("/data/sub/file.bin");
    expect(name(lines[5])).toBe("/lib/a.so (deleted)");
    expect(name(lines[7])).toBe("[stack]");
    expect(name(lines[8])).toBe("[vvar]");
  });
  it("drops every other name: a memfd, a host file outside the mounts, a sibling directory's file", () => {
    for (const i of [2, 4, 6, 9]) expect(lines[i]).toMatch(/ 00:00 0 $/);
  });
  it("shows no host path, device or inode", () => {
    expect(got).not.toMatch(/\/home\/op|\/srv\/|\/etc\/|memfd|fd:01|\b1234\b|\b5[5-8]\b/);
    for (const l of lines) expect(l).toMatch(/^[0-9a-f]+-[0-9a-f]+ [-rwxps]{4} [0-9a-f]{8} 00:00 0 /);
  });
});
