import { readFileSync } from "node:fs";
import { Libos, programMemory, SandboxFs } from "@kindling/libos";
import { loadStaticProgram } from "@kindling/linux-loader";
import { AT, KvmPlatform, writeInitialStack } from "@kindling/syscall-tap";

/** Runs a static x86-64 Linux program in a KVM guest; the libos serves every system call. */
export function runStatic(exe: string, argv: string[]): { status: number; stdout: string } {
  const MEM = 64 << 20;
  const vm = KvmPlatform.create({ memorySize: MEM });
  try {
    const prog = loadStaticProgram(readFileSync(exe), vm.programTarget);
    const sp = writeInitialStack(vm.memory, MEM - 4096, {
      argv,
      envp: ["PATH=/bin"],
      auxv: [
        [AT.PHDR, Number(prog.phdrAddr)],
        [AT.PHENT, prog.phentsize],
        [AT.PHNUM, prog.phnum],
        [AT.PAGESZ, 4096],
        [AT.ENTRY, Number(prog.entry)],
      ],
      random: crypto.getRandomValues(new Uint8Array(16)),
      execfn: argv[0],
    });
    vm.start(Number(prog.entry), sp);

    let stdout = "";
    const libos = new Libos({
      argv,
      // brk grows from the image; mmap hands out the rest below an 8 MiB stack.
      memory: programMemory({
        loadStart: Number(prog.loadStart),
        brkStart: Number(prog.brkStart),
        memoryEnd: MEM,
        stackSize: 8 << 20,
        exe,
      }),
      stdio: [
        "null",
        {
          write: (bytes) => {
            stdout += Buffer.from(bytes).toString();
            return bytes.length;
          },
        },
        2,
      ],
      fs: new SandboxFs(), // an empty tmpfs as /, with /dev and /proc
      onUnsupported: (name) => console.warn(`ENOSYS: ${name}`),
    });
    vm.run(libos, { wallMs: 10_000 });
    return { status: libos.shellStatus, stdout };
  } finally {
    vm.close();
  }
}
