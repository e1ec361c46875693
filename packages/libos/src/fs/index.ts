// The file side of @kindling/libos: VFS, file systems, fd table, pipes, stdio.
export * from "./constants.js";
export { createDevfs, type DevfsOptions } from "./devfs.js";
export { FdTable, NR_OPEN } from "./fdtable.js";
export {
  HostFileDescription,
  Hostfs,
  type HostfsOptions,
  HostInode,
  hostOpenat2,
  openOperatorPath,
  symlinkComponent,
} from "./hostfs.js";
export * from "./layout.js";
export { createPipe, Pipe, PipeEnd, type PipeWaiter } from "./pipe.js";
export { cpuinfo, createProcfs, meminfo, type ProcessView, sandboxMaps } from "./procfs.js";
export { type MountSpec, mapsText, SandboxFs, type SandboxFsOptions } from "./sandbox-fs.js";
export { HooksDescription, HostStreamDescription, NodeStreamDescription, stdioDescription } from "./stdio.js";
export {
  BytesDescription,
  FullDevice,
  NullDevice,
  RandomDevice,
  SynthDevice,
  SynthDir,
  SynthFile,
  SynthFs,
  SynthLink,
  type SynthNode,
  ZeroDevice,
} from "./synth.js";
export { fsClock } from "./time.js";
export { TmpFileDescription, Tmpfs, type TmpfsOptions, TmpInode } from "./tmpfs.js";
export {
  type Cred,
  type DirEntry,
  DirectoryDescription,
  errnoOf,
  FileDescription,
  type FileSystem,
  FsError,
  Inode,
  type IoctlIo,
  type OpenContext,
  ROOT_CRED,
  type SetAttr,
  type Stat,
  type StatFs,
  type Timespec,
} from "./types.js";
export {
  type FsContext,
  type Loc,
  Mount,
  MountNamespace,
  type MountOptions,
  PathDescription,
  permitted,
  sameLoc,
} from "./vfs.js";
