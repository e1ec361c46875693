/**
 * Typed errors of @kindling/seccompiler. Every error has a stable `code` and,
 * where it comes from a filter description, the `path` of the offending place
 * (`vcpu.filter[3].args[0].index`) and, for JSON input, its line and column.
 */

export type SeccompErrorCode =
  // JSON syntax and structure
  | "JSON_SYNTAX"
  | "JSON_TOO_DEEP"
  | "DUPLICATE_KEY"
  | "UNKNOWN_FIELD"
  | "MISSING_FIELD"
  | "INVALID_TYPE"
  // filter validation
  | "UNKNOWN_SYSCALL"
  | "INVALID_SYSCALL_NUMBER"
  | "INVALID_ARG_INDEX"
  | "EMPTY_ARGS"
  | "EMPTY_RULE"
  | "INVALID_VALUE"
  | "VALUE_OUT_OF_RANGE"
  | "INVALID_ACTION"
  | "IDENTICAL_ACTIONS"
  | "UNKNOWN_ARCH"
  | "PROGRAM_TOO_LARGE"
  // BPF programs
  | "INVALID_PROGRAM"
  // installation
  | "INSTALL_FAILED"
  | "TSYNC_FAILED";

export interface SourcePosition {
  line: number;
  column: number;
}

export class SeccompError extends Error {
  readonly code: SeccompErrorCode;
  /** Where in the filter description: `name.filter[i].args[j].field`. */
  readonly path: string | undefined;
  /** 1-based line and column in the JSON text, when the input was JSON. */
  readonly position: SourcePosition | undefined;

  constructor(code: SeccompErrorCode, message: string, path?: string, position?: SourcePosition) {
    const where = [path, position ? `line ${position.line} column ${position.column}` : undefined]
      .filter((s) => s !== undefined && s !== "")
      .join(", ");
    super(where ? `${message} (at ${where})` : message);
    this.name = new.target.name;
    this.code = code;
    this.path = path;
    this.position = position;
  }
}

/** The text is not JSON, or has a duplicate key. */
export class JsonSyntaxError extends SeccompError {}

/** The JSON (or builder input) is not a valid filter description. */
export class FilterValidationError extends SeccompError {}

/** A compiled program exceeds the kernel's 4096-instruction limit. */
export class ProgramTooLargeError extends SeccompError {
  readonly instructions: number;
  constructor(instructions: number, path?: string) {
    super("PROGRAM_TOO_LARGE", `the BPF program has ${instructions} instructions; the kernel accepts 4096`, path);
    this.instructions = instructions;
  }
}

/** A classic-BPF program that the kernel's seccomp checker would reject. */
export class BpfProgramError extends SeccompError {
  /** Index of the offending instruction, when there is one. */
  readonly pc: number | undefined;
  constructor(message: string, pc?: number) {
    super("INVALID_PROGRAM", pc === undefined ? message : `${message} (instruction ${pc})`);
    this.pc = pc;
  }
}

/** seccomp(2) refused a filter. `errno` is the kernel's error number. */
export class SeccompInstallError extends SeccompError {
  readonly errno: number;
  /** With TSYNC: the id of a thread that could not be synchronized. */
  readonly tid: number | undefined;
  constructor(code: "INSTALL_FAILED" | "TSYNC_FAILED", message: string, errno: number, tid?: number) {
    super(code, message);
    this.errno = errno;
    this.tid = tid;
  }
}
