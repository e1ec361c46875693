import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { MockSplitQueue } from "@kindling/virtio-queue";
import { GuestMemoryMmap } from "@kindling/vm-memory";
import { expect, it } from "vitest";

const here = dirname(fileURLToPath(import.meta.url));

it("addUsed publishes used.idx only after the element (observed from another thread)", async () => {
  const mem = GuestMemoryMmap.fromRanges([{ start: 0n, size: 0x10000 }], { backing: "memfd" });
  try {
    const size = 256;
    const mock = new MockSplitQueue(mem, 0x1000, size);
    const q = mock.createQueue();
    const total = 60000; // below 2^16: used.idx equals the count of elements
    const addon = ["Release", "Debug"]
      .map((k) => join(here, `../../sys-util/build/${k}/kindling_sys.node`))
      .find((p) => existsSync(p));
    const w = new Worker(join(here, "fixtures/used-observer.cjs"), {
      workerData: { addon, fd: mem.memfd, length: 0x10000, usedAddr: mock.usedAddr, size, total },
    });
    const result = new Promise<{ checks: number; errors: number }>((resolve, reject) => {
      w.on("message", (m) => {
        if (!m.ready) resolve(m);
      });
      w.on("error", reject);
    });
    await new Promise<void>((resolve) => w.once("message", () => resolve()));
    for (let i = 1; i <= total; i++) {
      // head encodes the lap around the ring, len the element's sequence number.
      q.addUsed(mem, Math.floor((i - 1) / size) % size, i);
    }
    const { checks, errors } = await result;
    await w.terminate();
    expect(checks).toBeGreaterThan(0);
    expect(errors).toBe(0);
    expect(mock.usedIdx()).toBe(total);
  } finally {
    mem.close();
  }
});
