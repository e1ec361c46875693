export * from "./layout.js";
export { GuestProgramMemory } from "./memory.js";
export { KvmPlatform, KvmPlatformError, type KvmPlatformOptions, type RunLimits, type RunResult } from "./platform.js";
export { AT, type InitialStack, writeInitialStack } from "./stack.js";
