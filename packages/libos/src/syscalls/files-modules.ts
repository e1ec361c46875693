import type { SyscallModule } from "../dispatch.js";
import { filesModule } from "./files.js";
import { pollModule } from "./files-poll.js";

/** The file side's syscall modules, registered by `SandboxFs.attach`. */
export const FILE_MODULES: readonly SyscallModule[] = [filesModule, pollModule];
