// Many tests run a sandbox synchronously (the vCPU loop, spawnSync) and block their worker's event
// loop for tens of seconds. Vitest's RPC from a worker to the main process times out after 60 s if
// its answer cannot be read, so two long tests back to back in one file could fail a green run:
// after each test, let the event loop take a full turn (I/O included) before the next one starts.
import { afterEach } from "vitest";

afterEach(() => new Promise<void>((resolve) => setImmediate(resolve)));
