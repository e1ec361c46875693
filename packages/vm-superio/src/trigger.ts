import { SuperIoError } from "./errors.js";

/**
 * How a device signals an interrupt (or any other event, such as a reset request) to the VMM.
 * The counterpart of rust-vmm's `vm_superio::Trigger`. Implementations must not call back into
 * the device.
 */
export interface Trigger {
  trigger(): void;
}

/** A trigger that counts how often it fired: for tests and for polling VMMs. */
export class CountingTrigger implements Trigger {
  #count = 0;
  get count(): number {
    return this.#count;
  }
  trigger(): void {
    this.#count++;
  }
  /** Returns the count and sets it back to zero, like reading an eventfd. */
  take(): number {
    const n = this.#count;
    this.#count = 0;
    return n;
  }
}

/**
 * Anything with an eventfd's `write`: `@kindling/sys-util`'s `EventFd` fits, without this
 * package depending on it.
 */
export interface EventFdLike {
  write(value?: number | bigint): void;
}

/**
 * A trigger that adds 1 to an eventfd: registered as a KVM irqfd it injects the device's IRQ
 * without leaving the kernel; registered with an event loop it wakes the VMM (reset, exit).
 */
export class EventFdTrigger implements Trigger {
  readonly eventFd: EventFdLike;
  constructor(eventFd: EventFdLike) {
    this.eventFd = eventFd;
  }
  trigger(): void {
    this.eventFd.write(1);
  }
}

/** A trigger that calls a function: for VMMs that inject interrupts themselves. */
export class CallbackTrigger implements Trigger {
  readonly #fn: () => void;
  constructor(fn: () => void) {
    this.#fn = fn;
  }
  trigger(): void {
    this.#fn();
  }
}

/** Fires `t`, turning anything it throws into a typed `TRIGGER_FAILED` error. */
export function fire(t: Trigger, what: string): void {
  try {
    t.trigger();
  } catch (cause) {
    throw new SuperIoError("TRIGGER_FAILED", `${what}: the trigger failed: ${String(cause)}`, { cause });
  }
}
