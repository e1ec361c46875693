// @kindling/vmm-reference: The kindling CLI: a gVisor-like sandbox and a Firecracker-like microVM composed from the Kindling packages.
export {};
