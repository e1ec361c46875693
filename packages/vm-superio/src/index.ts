// @kindling/vm-superio: Legacy devices for VMMs: 16550A serial, i8042 reset, CMOS RTC, with an interrupt Trigger interface.
export {};
