import { close, EventFd, ftruncate, MmapRegion, memfdCreate, SysError } from "@kindling/sys-util";

/** Shares memory through a memfd, signals through an eventfd, and shows a typed error. */
export function tour(): { seen: number; signalled: bigint; error: string } {
  const fd = memfdCreate("guest-ram");
  ftruncate(fd, 4096);
  const a = MmapRegion.file(fd, 4096); // MAP_SHARED
  const b = MmapRegion.file(fd, 4096);
  a.bytes()[0] = 42; // visible through the other mapping
  const seen = b.bytes()[0];

  const ev = new EventFd();
  ev.write(3);
  const signalled = ev.read();

  let error = "";
  try {
    a.unmap();
    a.bytes(); // use after unmap: a typed error, never a segfault
  } catch (e) {
    error = (e as { code: string }).code;
  }
  try {
    MmapRegion.map(4096, 0, 0, -1); // neither anonymous nor a file: the kernel says EBADF
  } catch (e) {
    if (e instanceof SysError) error += ` ${e.code}`;
  }
  b.unmap();
  ev.close();
  close(fd);
  return { seen, signalled, error };
}
