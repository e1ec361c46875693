// @kindling/vmm-reference: the kindling sandbox and microVM composed from the Kindling packages.
export { main, normalizeStrace, parseSize, runProgram } from "./cli.js";
export {
  kvmAvailable,
  type PlatformName,
  readProgram,
  Sandbox,
  SandboxError,
  type SandboxOptions,
  type SandboxResult,
} from "./sandbox.js";
