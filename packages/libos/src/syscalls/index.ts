import type { SyscallModule } from "../dispatch.js";
import * as futex from "./futex.js";
import * as memory from "./memory.js";
import * as process from "./process.js";
import * as signal from "./signal.js";
import * as thread from "./thread.js";
import * as time from "./time.js";

/** The core syscall modules, registered by every Libos (the file side registers its own in `fs.attach`). */
export const CORE_MODULES: readonly SyscallModule[] = [process, memory, time, signal, futex, thread];
