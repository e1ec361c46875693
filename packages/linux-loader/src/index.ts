// @kindling/linux-loader: Getting a Linux kernel or static program into guest memory: ELF (PVH), bzImage, boot params, E820, cmdline.
export {};
