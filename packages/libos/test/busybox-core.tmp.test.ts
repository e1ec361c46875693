import { readFileSync } from "node:fs";
import { Libos, SandboxFs } from "@kindling/libos";
import { loadStaticProgram } from "@kindling/linux-loader";
import { AT, KvmPlatform, writeInitialStack } from "@kindling/syscall-tap";
import { it } from "vitest";

function run(argv: string[]) {
  const MEM = 64 << 20;
  const STACK = 8 << 20;
  const exe = "/bin/busybox";
  const vm = KvmPlatform.create({ memorySize: MEM });
  try {
    const prog = loadStaticProgram(readFileSync(exe), vm.programTarget);
    const sp = writeInitialStack(vm.memory, MEM - 4096, {
      argv,
      envp: ["PATH=/bin", "HOME=/"],
      auxv: [
        [AT.PHDR, Number(prog.phdrAddr)],
        [AT.PHENT, prog.phentsize],
        [AT.PHNUM, prog.phnum],
        [AT.PAGESZ, 4096],
        [AT.ENTRY, Number(prog.entry)],
        [AT.UID, 0],
        [AT.EUID, 0],
        [AT.GID, 0],
        [AT.EGID, 0],
        [AT.SECURE, 0],
      ],
      random: crypto.getRandomValues(new Uint8Array(16)),
      execfn: argv[0],
    });
    vm.start(Number(prog.entry), sp);
    let out = "";
    const uns: string[] = [];
    const brk = Number(prog.brkStart);
    const sink = {
      write: (b: Uint8Array) => {
        out += Buffer.from(b).toString();
        return b.length;
      },
    };
    const libos = new Libos({
      argv,
      exe: "/bin/busybox",
      memory: {
        base: brk,
        size: MEM - STACK - brk,
        limit: MEM,
        regions: [
          { start: Number(prog.loadStart), length: brk - Number(prog.loadStart), kind: "image", prot: 7, name: exe },
          { start: MEM - STACK, length: STACK, kind: "stack", prot: 3, name: "[stack]" },
        ],
      },
      stdio: ["null", sink, sink],
      fs: new SandboxFs({ root: "/" }),
      onUnsupported: (name) => uns.push(name),
    });
    const r = vm.run(libos, { wallMs: 10_000 });
    console.log(
      `${argv.join(" ")} => ${JSON.stringify(r)} status=${libos.shellStatus} ${libos.killReason ?? ""} syscalls=${vm.syscalls} ENOSYS=${uns.join(",")}\n${out.slice(0, 600)}`,
    );
  } finally {
    vm.close();
  }
}
it("busybox", () => {
  for (const argv of [
    ["echo", "hi"],
    ["sh", "-c", "echo $((1+2)); x=5; echo ${x}"],
    ["ls", "-la", "/etc/hostname"],
    ["date", "+%Y"],
    ["sleep", "0.05"],
    ["seq", "3"],
    ["sha256sum", "/etc/hostname"],
    ["cat", "/proc/self/maps"],
    ["env"],
    ["expr", "3", "*", "4"],
    ["sh", "-c", "kill -USR1 $$; echo after"],
    ["sh", "-c", "trap 'echo trapped' USR1; kill -USR1 $$; echo after"],
    ["awk", "BEGIN{print 1+1}"],
    ["nproc"],
    ["id"],
    ["uname", "-a"],
    ["free"],
    ["uptime"],
  ])
    run(argv);
}, 120000);
