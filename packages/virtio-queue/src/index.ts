// @kindling/virtio-queue: Device side of virtio split and packed virtqueues, with every validation rule a hostile guest needs.
export {};
