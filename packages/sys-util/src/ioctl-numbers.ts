// The _IO/_IOR/_IOW/_IOWR encoding of <asm-generic/ioctl.h> (x86-64).

const NRBITS = 8;
const TYPEBITS = 8;
const SIZEBITS = 14;
const NRSHIFT = 0;
const TYPESHIFT = NRSHIFT + NRBITS;
const SIZESHIFT = TYPESHIFT + TYPEBITS;
const DIRSHIFT = SIZESHIFT + SIZEBITS;

export const IOC_NONE = 0;
export const IOC_WRITE = 1;
export const IOC_READ = 2;

/** Encodes an ioctl request number. */
export function ioc(dir: number, type: number, nr: number, size: number): number {
  if (size < 0 || size >= 1 << SIZEBITS) throw new RangeError(`ioctl size ${size} does not fit 14 bits`);
  return ((dir << DIRSHIFT) | (type << TYPESHIFT) | (nr << NRSHIFT) | (size << SIZESHIFT)) >>> 0;
}

export const io = (type: number, nr: number): number => ioc(IOC_NONE, type, nr, 0);
export const ior = (type: number, nr: number, size: number): number => ioc(IOC_READ, type, nr, size);
export const iow = (type: number, nr: number, size: number): number => ioc(IOC_WRITE, type, nr, size);
export const iowr = (type: number, nr: number, size: number): number => ioc(IOC_READ | IOC_WRITE, type, nr, size);

/** The direction bits of a request (IOC_NONE, IOC_READ, IOC_WRITE or both). */
export function iocDir(request: number): number {
  return (request >>> DIRSHIFT) & 3;
}

/** The argument size a request encodes (_IOC_SIZE); 0 for requests that encode none. */
export function iocSize(request: number): number {
  return (request >>> SIZESHIFT) & ((1 << SIZEBITS) - 1);
}

/**
 * Requests older than the _IOC encoding that take a pointer, with the size of
 * what it points to (x86-64): the tty and file ioctls. Their numbers encode no
 * size, so the checked `ioctl` knows them from here; an unknown request that
 * encodes no size takes its argument by value only.
 */
export const LEGACY_POINTER_IOCTLS: ReadonlyMap<number, number> = new Map([
  [0x5401, 36], // TCGETS: struct termios
  [0x5402, 36], // TCSETS
  [0x5403, 36], // TCSETSW
  [0x5404, 36], // TCSETSF
  [0x5405, 18], // TCGETA: struct termio
  [0x5406, 18], // TCSETA
  [0x5407, 18], // TCSETAW
  [0x5408, 18], // TCSETAF
  [0x540f, 4], // TIOCGPGRP: pid_t
  [0x5410, 4], // TIOCSPGRP
  [0x5411, 4], // TIOCOUTQ: int
  [0x5412, 1], // TIOCSTI: char
  [0x5413, 8], // TIOCGWINSZ: struct winsize
  [0x5414, 8], // TIOCSWINSZ
  [0x5415, 4], // TIOCMGET
  [0x5416, 4], // TIOCMBIS
  [0x5417, 4], // TIOCMBIC
  [0x5418, 4], // TIOCMSET
  [0x5419, 4], // TIOCGSOFTCAR
  [0x541a, 4], // TIOCSSOFTCAR
  [0x541b, 4], // FIONREAD
  [0x5420, 4], // TIOCPKT
  [0x5421, 4], // FIONBIO
  [0x5423, 4], // TIOCSETD
  [0x5424, 4], // TIOCGETD
  [0x5429, 4], // TIOCGSID
  [0x5452, 4], // FIOASYNC
  [0x5460, 8], // FIOQSIZE: loff_t
  [0x0001, 4], // FIBMAP: int
  [0x0002, 4], // FIGETBSZ: int
  [0x8905, 4], // SIOCATMARK: int
  [0x8906, 16], // SIOCGSTAMP: struct timeval
  [0x8907, 16], // SIOCGSTAMPNS: struct timespec
]);
