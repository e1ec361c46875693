// @kindling/linux-loader: getting a Linux kernel or a static program into guest memory:
// ELF (with the PVH note), bzImage, boot params (zero page) with E820, PVH start info, the
// kernel command line, initrd placement, and the static-program reader the sandbox uses.
export * from "./bootparams.js";
export * from "./bzimage.js";
export * from "./cmdline.js";
export * from "./elf.js";
export * from "./errors.js";
export * from "./initrd.js";
export * from "./kernel.js";
export * from "./memory.js";
export * from "./pvh.js";
