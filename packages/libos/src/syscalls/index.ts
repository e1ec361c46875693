import type { SyscallModule } from "../dispatch.js";

/** The core syscall modules, registered by every Libos (the file side registers its own in `fs.attach`). */
export const CORE_MODULES: readonly SyscallModule[] = [];
