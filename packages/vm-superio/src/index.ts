// @kindling/vm-superio: legacy devices for VMMs (16550A serial, i8042, CMOS RTC) and the
// Trigger interface through which they raise interrupts. No dependencies.
export * from "./cmos.js";
export * from "./errors.js";
export * from "./i8042.js";
export * from "./serial.js";
export * from "./trigger.js";
