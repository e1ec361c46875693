import { readFileSync } from "node:fs";
import { loadStaticProgram } from "@kindling/linux-loader";
import { AT, KvmPlatform, Resume, type SyscallServer, writeInitialStack } from "@kindling/syscall-tap";

/** Runs a static program in ring 3 of a KVM guest and serves its write/exit calls itself. */
export function runInKvm(path: string, argv: string[]): { output: string; status: number; syscalls: number } {
  const memorySize = 64 << 20;
  const vm = KvmPlatform.create({ memorySize });
  const program = loadStaticProgram(new Uint8Array(readFileSync(path)), vm.programTarget);
  const sp = writeInitialStack(vm.memory, memorySize - 4096, {
    argv,
    envp: [],
    auxv: [
      [AT.PHDR, Number(program.phdrAddr)],
      [AT.PHENT, program.phentsize],
      [AT.PHNUM, program.phnum],
      [AT.PAGESZ, 4096],
      [AT.ENTRY, Number(program.entry)],
    ],
    random: crypto.getRandomValues(new Uint8Array(16)),
    execfn: path,
  });
  vm.start(Number(program.entry), sp);

  let output = "";
  let status = -1;
  const server: SyscallServer = {
    onSyscall(task, ev, outcome) {
      if (ev.nr === 1) {
        // write(fd, buf, len): the buffer is read straight from guest memory.
        output += Buffer.from(task.memory.view(ev.arg(1), ev.arg(2))).toString();
        return ev.arg(2);
      }
      if (ev.nr === 60 || ev.nr === 231) {
        status = ev.argI32(0);
        outcome.resume = Resume.Exit;
        return 0;
      }
      return -38; // ENOSYS for everything else
    },
    onFault(_task, _fault, outcome) {
      outcome.resume = Resume.Exit;
    },
  };
  vm.run(server, { wallMs: 10_000 });
  const syscalls = vm.syscalls;
  vm.close();
  return { output, status, syscalls };
}
