/* The C floor of the kvm platform's system call round trip: the same guest
 * image (shim + a getppid loop, dumped by exit-roundtrip.mjs) and the same
 * host protocol (sync regs in, user segments and rip = rcx out), with no
 * JavaScript. Prints nanoseconds per round trip. */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define CHECK(x) do { if ((x) < 0) { perror(#x); exit(1); } } while (0)

static struct kvm_segment seg(uint16_t sel, uint8_t type, uint8_t dpl, uint8_t l, uint8_t db) {
  struct kvm_segment s = {0};
  s.base = 0; s.limit = 0xffffffff; s.selector = sel; s.type = type; s.present = 1;
  s.dpl = dpl; s.db = db; s.s = 1; s.l = l; s.g = 1;
  return s;
}

int main(int argc, char **argv) {
  if (argc != 8) { fprintf(stderr, "usage: image memsize entry rsp cr3 tss_limit iterations\n"); return 2; }
  size_t memsize = strtoull(argv[2], 0, 0);
  uint64_t entry = strtoull(argv[3], 0, 0), rsp = strtoull(argv[4], 0, 0), cr3 = strtoull(argv[5], 0, 0);
  uint32_t tss_limit = strtoul(argv[6], 0, 0);
  long iterations = strtol(argv[7], 0, 0);
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC); CHECK(kvm);
  int vm = ioctl(kvm, KVM_CREATE_VM, 0); CHECK(vm);
  uint8_t *mem = mmap(0, memsize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  FILE *f = fopen(argv[1], "rb"); if (!f) { perror(argv[1]); return 1; }
  size_t n = fread(mem, 1, memsize, f); fclose(f);
  if (n == 0) { fprintf(stderr, "empty image\n"); return 1; }
  CHECK(ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000));
  struct kvm_userspace_memory_region r = { .slot = 0, .guest_phys_addr = 0, .memory_size = memsize, .userspace_addr = (uint64_t)mem };
  CHECK(ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r));
  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0); CHECK(vcpu);
  int runsz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  struct kvm_run *run = mmap(0, runsz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  struct { struct kvm_cpuid2 c; struct kvm_cpuid_entry2 e[256]; } cpuid = { .c.nent = 256 };
  CHECK(ioctl(kvm, KVM_GET_SUPPORTED_CPUID, &cpuid));
  CHECK(ioctl(vcpu, KVM_SET_CPUID2, &cpuid));
  struct kvm_sregs s; CHECK(ioctl(vcpu, KVM_GET_SREGS, &s));
  struct kvm_segment ucs = seg(0x23, 0xb, 3, 1, 0), uds = seg(0x1b, 0x3, 3, 0, 1);
  s.cs = ucs; s.ss = s.ds = s.es = s.fs = s.gs = uds;
  s.tr = (struct kvm_segment){ .base = 0x12000, .limit = tss_limit, .selector = 0x28, .type = 0xb, .present = 1 };
  s.gdt.base = 0x11000; s.gdt.limit = 7 * 8 - 1; s.idt.base = 0x13000; s.idt.limit = 256 * 16 - 1;
  s.cr0 = 0x80010033; s.cr3 = cr3; s.cr4 = 0x620; s.efer = 0x501;
  s.ldt.unusable = 1; s.ldt.present = 0; s.ldt.selector = 0;
  CHECK(ioctl(vcpu, KVM_SET_SREGS, &s));
  struct { struct kvm_msrs m; struct kvm_msr_entry e[3]; } msrs = { .m.nmsrs = 3 };
  msrs.e[0] = (struct kvm_msr_entry){ .index = 0xc0000082, .data = 0x14000 };
  msrs.e[1] = (struct kvm_msr_entry){ .index = 0xc0000081, .data = 0x08ULL << 32 };
  msrs.e[2] = (struct kvm_msr_entry){ .index = 0xc0000084, .data = 0x47700 };
  CHECK(ioctl(vcpu, KVM_SET_MSRS, &msrs));
  struct kvm_regs regs = {0}; regs.rip = entry; regs.rsp = rsp; regs.rflags = 0x202; regs.rbx = iterations;
  CHECK(ioctl(vcpu, KVM_SET_REGS, &regs));
  run->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
  struct timespec t0, t1;
  long exits = 0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    CHECK(ioctl(vcpu, KVM_RUN, 0));
    if (run->exit_reason != KVM_EXIT_IO || run->io.port != 0x10) { fprintf(stderr, "unexpected exit %d\n", run->exit_reason); return 1; }
    struct kvm_regs *g = &run->s.regs.regs;
    if (g->rax == 60) break;
    exits++;
    g->rax = 1;
    g->rip = g->rcx;
    g->rflags = (g->r11 & 0x254dd5) | 0x202;
    run->s.regs.sregs.cs = ucs;
    run->s.regs.sregs.ss = uds;
    run->kvm_dirty_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
  printf("%ld %.1f\n", exits, ns / exits);
  return exits == iterations ? 0 : 1;
}
