// The one native addon of Kindling: thin wrappers of the raw syscalls Node lacks.
//
// Rules: no logic beyond argument marshalling. Integer-returning calls return
// the raw kernel convention (>= 0 on success, -errno on failure) so the hot
// path never builds an exception; the TypeScript layer turns -errno into a
// typed SysError. Calls that must return an object throw an Error carrying
// `errno` and `syscall`, which TypeScript converts the same way.
#include <napi.h>

#include "throw.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <linux/filter.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <poll.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

namespace {

// ---------------------------------------------------------------- helpers

int64_t ToI64(const Napi::Value& v) {
  if (v.IsBigInt()) {
    bool lossless = true;
    return v.As<Napi::BigInt>().Int64Value(&lossless);
  }
  if (v.IsNumber()) return v.As<Napi::Number>().Int64Value();
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? 1 : 0;
  return 0;
}

uint64_t ToU64(const Napi::Value& v) {
  if (v.IsBigInt()) {
    bool lossless = true;
    return v.As<Napi::BigInt>().Uint64Value(&lossless);
  }
  if (v.IsNumber()) return static_cast<uint64_t>(v.As<Napi::Number>().Int64Value());
  return 0;
}

using kindling::ThrowErrno;

Napi::Value ThrowType(Napi::Env env, const char* msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

inline Napi::Number Ret(Napi::Env env, long r) {
  return Napi::Number::New(env, r < 0 ? -errno : static_cast<double>(r));
}

// Pointer and length of any ArrayBuffer / TypedArray / DataView / Buffer.
bool BufferOf(const Napi::Value& v, uint8_t** data, size_t* len) {
  if (v.IsArrayBuffer()) {
    auto ab = v.As<Napi::ArrayBuffer>();
    *data = static_cast<uint8_t*>(ab.Data());
    *len = ab.ByteLength();
    return true;
  }
  if (v.IsTypedArray()) {
    auto ta = v.As<Napi::TypedArray>();
    *data = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    *len = ta.ByteLength();
    return true;
  }
  if (v.IsDataView()) {
    auto dv = v.As<Napi::DataView>();
    *data = static_cast<uint8_t*>(dv.ArrayBuffer().Data()) + dv.ByteOffset();
    *len = dv.ByteLength();
    return true;
  }
  return false;
}

// ---------------------------------------------------------------- mmap

// Every live mapping handed to JavaScript. The finalizer and an explicit
// unmap() both consult it, so a mapping is unmapped exactly once.
struct Mapping {
  void* addr;
  size_t len;
  bool unmapped;
};
std::mutex g_maps_mu;
std::unordered_map<void*, Mapping*> g_maps;
// Clears every vCPU kick target inside a mapping about to be unmapped (below).
void ClearKickTargets(const Mapping* m);

// The registry holds only live mappings: an address unmapped by munmap() may
// be reused by a later mmap before the old buffer is collected, so an entry is
// removed only by the Mapping that owns it.
void FinalizeMapping(Napi::Env, void* data, Mapping* m) {
  std::lock_guard<std::mutex> lock(g_maps_mu);
  if (!m->unmapped) {
    ClearKickTargets(m);
    munmap(m->addr, m->len);
    auto it = g_maps.find(m->addr);
    if (it != g_maps.end() && it->second == m) g_maps.erase(it);
  }
  delete m;
}

// mmap(len, prot, flags, fd, offset) -> ArrayBuffer (external, unmapped on GC).
Napi::Value Mmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t len = static_cast<size_t>(ToU64(info[0]));
  int prot = static_cast<int>(ToI64(info[1]));
  int flags = static_cast<int>(ToI64(info[2]));
  int fd = static_cast<int>(ToI64(info[3]));
  off_t off = static_cast<off_t>(ToI64(info[4]));
  if (len == 0) return ThrowErrno(env, "mmap", EINVAL);
  // V8 cannot wrap more than this in one ArrayBuffer; refuse before mapping.
  if (len > (static_cast<size_t>(1) << 32)) return ThrowErrno(env, "mmap", EOVERFLOW);
  void* p = mmap(nullptr, len, prot, flags, fd, off);
  if (p == MAP_FAILED) return ThrowErrno(env, "mmap", errno);
  auto* m = new Mapping{p, len, false};
  {
    std::lock_guard<std::mutex> lock(g_maps_mu);
    g_maps[p] = m;
  }
  return Napi::ArrayBuffer::New(env, p, len, FinalizeMapping, m);
}

// munmap(arrayBuffer): unmaps now and detaches the buffer so every view of it
// reads as empty instead of touching unmapped memory. Returns 0 or -errno.
Napi::Value Munmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArrayBuffer()) return ThrowType(env, "munmap expects an ArrayBuffer");
  auto ab = info[0].As<Napi::ArrayBuffer>();
  void* p = ab.Data();
  Mapping* m = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_maps_mu);
    auto it = g_maps.find(p);
    if (it == g_maps.end() || it->second->unmapped) return Napi::Number::New(env, -EINVAL);
    m = it->second;
    m->unmapped = true;
    g_maps.erase(it);
    ClearKickTargets(m);
  }
  int r = munmap(m->addr, m->len);
  int err = errno;
  if (!ab.IsDetached()) ab.Detach();
  return Napi::Number::New(env, r < 0 ? -err : 0);
}

// mappingContains(addr, len) -> whether [addr, addr + len) lies inside one live
// mapping of the registry (so a VMM hands KVM only memory it owns).
Napi::Value MappingContains(const Napi::CallbackInfo& info) {
  uint64_t a = ToU64(info[0]);
  uint64_t n = ToU64(info[1]);
  std::lock_guard<std::mutex> lock(g_maps_mu);
  for (const auto& entry : g_maps) {
    const Mapping* m = entry.second;
    uint64_t start = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(m->addr));
    if (!m->unmapped && a >= start && n <= m->len && a - start <= m->len - n) {
      return Napi::Boolean::New(info.Env(), true);
    }
  }
  return Napi::Boolean::New(info.Env(), false);
}

// madvise/mprotect/msync(arrayBuffer, offset, len, arg)
template <int (*Fn)(void*, size_t, int)>
Napi::Value RangeOp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArrayBuffer()) return ThrowType(env, "expects a mapped ArrayBuffer");
  auto ab = info[0].As<Napi::ArrayBuffer>();
  uint64_t off = ToU64(info[1]);
  uint64_t len = ToU64(info[2]);
  if (off > ab.ByteLength() || len > ab.ByteLength() - off) return Napi::Number::New(env, -EFAULT);
  int r = Fn(static_cast<uint8_t*>(ab.Data()) + off, len, static_cast<int>(ToI64(info[3])));
  return Ret(env, r);
}

// addressOf(buffer) -> bigint host address of the first byte of the view.
Napi::Value AddressOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t* data;
  size_t len;
  if (!BufferOf(info[0], &data, &len)) return ThrowType(env, "addressOf expects a buffer");
  return Napi::BigInt::New(env, static_cast<uint64_t>(reinterpret_cast<uintptr_t>(data)));
}

// ---------------------------------------------------------------- fds

Napi::Value Open(const Napi::CallbackInfo& info) {
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int r = open(path.c_str(), static_cast<int>(ToI64(info[1])), static_cast<mode_t>(ToI64(info[2])));
  return Ret(info.Env(), r);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  return Ret(info.Env(), close(static_cast<int>(ToI64(info[0]))));
}

// ioctl(fd, request, arg): arg is a number/bigint (passed by value) or a
// buffer (passed by pointer). Returns the ioctl's result or -errno.
Napi::Value Ioctl(const Napi::CallbackInfo& info) {
  int fd = static_cast<int>(ToI64(info[0]));
  unsigned long req = static_cast<unsigned long>(ToU64(info[1]));
  long r;
  uint8_t* data;
  size_t len;
  if (info.Length() > 2 && BufferOf(info[2], &data, &len)) {
    r = ioctl(fd, req, data);
  } else {
    r = ioctl(fd, req, info.Length() > 2 ? static_cast<unsigned long>(ToU64(info[2])) : 0UL);
  }
  return Ret(info.Env(), r);
}

// ioctlRun(fd): KVM_RUN without argument decoding; the hot path of every VMM.
Napi::Value IoctlRun(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  long r = ioctl(fd, KVM_RUN, 0);
  return Napi::Number::New(info.Env(), r < 0 ? -errno : r);
}

Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>().Utf8Value();
  long r = syscall(SYS_memfd_create, name.c_str(), static_cast<unsigned>(ToI64(info[1])));
  return Ret(info.Env(), r);
}

Napi::Value Ftruncate(const Napi::CallbackInfo& info) {
  return Ret(info.Env(), ftruncate(static_cast<int>(ToI64(info[0])), static_cast<off_t>(ToI64(info[1]))));
}

Napi::Value Eventfd(const Napi::CallbackInfo& info) {
  return Ret(info.Env(), eventfd(static_cast<unsigned>(ToI64(info[0])), static_cast<int>(ToI64(info[1]))));
}

// eventfdRead(fd) -> bigint counter, or a negative bigint -errno.
Napi::Value EventfdRead(const Napi::CallbackInfo& info) {
  uint64_t v = 0;
  ssize_t r = read(static_cast<int>(ToI64(info[0])), &v, sizeof v);
  if (r < 0) return Napi::BigInt::New(info.Env(), static_cast<int64_t>(-errno));
  return Napi::BigInt::New(info.Env(), v);
}

Napi::Value EventfdWrite(const Napi::CallbackInfo& info) {
  uint64_t v = ToU64(info[1]);
  ssize_t r = write(static_cast<int>(ToI64(info[0])), &v, sizeof v);
  return Ret(info.Env(), r);
}

// pread/pwrite(fd, buffer, offset, len, fileOffset): straight into or out of
// the buffer's memory (guest memory when the buffer is a mapping).
template <bool Write>
Napi::Value PreadPwrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t* data;
  size_t blen;
  if (!BufferOf(info[1], &data, &blen)) return ThrowType(env, "expects a buffer");
  uint64_t off = ToU64(info[2]);
  uint64_t len = ToU64(info[3]);
  if (off > blen || len > blen - off) return Napi::Number::New(env, -EFAULT);
  int fd = static_cast<int>(ToI64(info[0]));
  int64_t foff = ToI64(info[4]);
  ssize_t r;
  if (foff < 0) {
    r = Write ? write(fd, data + off, len) : read(fd, data + off, len);
  } else {
    r = Write ? pwrite(fd, data + off, len, foff) : pread(fd, data + off, len, foff);
  }
  return Ret(env, r);
}

// syscall(nr, a0..a5): the raw escape hatch. Arguments are numbers or bigints;
// buffers are passed as their address. Returns a number (result or -errno).
Napi::Value Syscall(const Napi::CallbackInfo& info) {
  long a[6] = {0, 0, 0, 0, 0, 0};
  for (size_t i = 0; i < 6 && i + 1 < info.Length(); i++) {
    uint8_t* data;
    size_t len;
    if (BufferOf(info[i + 1], &data, &len)) {
      a[i] = reinterpret_cast<long>(data);
    } else {
      a[i] = static_cast<long>(ToI64(info[i + 1]));
    }
  }
  long r = syscall(ToI64(info[0]), a[0], a[1], a[2], a[3], a[4], a[5]);
  return Ret(info.Env(), r);
}

Napi::Value Gettid(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(syscall(SYS_gettid)));
}

// ---------------------------------------------------------------- vCPU kicks

// A vCPU thread inside KVM_RUN leaves it when a signal arrives. To close the
// race where the signal lands just before KVM_RUN is entered, the handler
// also sets kvm_run->immediate_exit for the thread's registered kvm_run.
//
// The handler writes through a raw pointer, so the pointer must never outlive
// its mapping: a target is only ever a live mapping of the registry, and
// unmapping it (munmap() or the garbage collector, from whichever thread)
// first clears every thread's slot that points into it and waits until no
// handler is between reading the slot and writing through it.
struct KickSlot {
  std::atomic<struct kvm_run*> target{nullptr};
  std::atomic<int> busy{0};  // a handler is using `target`
  const Mapping* mapping = nullptr;  // guarded by g_kick_mu
};
std::mutex g_kick_mu;
std::vector<KickSlot*> g_kick_slots;  // guarded by g_kick_mu
// Plain pointer (trivial TLS): the signal handler reads it.
thread_local KickSlot* t_kick_slot = nullptr;
int g_kick_signal = 0;

// Deregisters the thread's slot when the thread ends (a worker thread's exit).
struct KickSlotOwner {
  bool armed = false;
  ~KickSlotOwner() {
    KickSlot* slot = t_kick_slot;
    if (slot == nullptr) return;
    t_kick_slot = nullptr;  // first: a late kick on this thread then does nothing
    std::atomic_signal_fence(std::memory_order_seq_cst);
    std::lock_guard<std::mutex> lock(g_kick_mu);
    for (auto it = g_kick_slots.begin(); it != g_kick_slots.end(); ++it) {
      if (*it == slot) {
        g_kick_slots.erase(it);
        break;
      }
    }
    delete slot;
  }
};
thread_local KickSlotOwner t_kick_owner;

void KickHandler(int) {
  KickSlot* s = t_kick_slot;
  if (s == nullptr) return;
  s->busy.store(1, std::memory_order_seq_cst);
  struct kvm_run* r = s->target.load(std::memory_order_seq_cst);
  if (r != nullptr) r->immediate_exit = 1;
  s->busy.store(0, std::memory_order_seq_cst);
}

// Called with g_maps_mu held, before `m` is unmapped.
void ClearKickTargets(const Mapping* m) {
  std::lock_guard<std::mutex> lock(g_kick_mu);
  for (KickSlot* s : g_kick_slots) {
    if (s->mapping != m) continue;
    s->target.store(nullptr, std::memory_order_seq_cst);
    s->mapping = nullptr;
    // A handler on another thread may have read the old pointer: let it finish.
    while (s->busy.load(std::memory_order_seq_cst) != 0) sched_yield();
  }
}

// kickSignal() -> the signal number used to kick vCPUs (installs the handler once).
Napi::Value KickSignal(const Napi::CallbackInfo& info) {
  static std::once_flag once;
  std::call_once(once, [] {
    g_kick_signal = SIGRTMIN + 5;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = KickHandler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
    sigaction(g_kick_signal, &sa, nullptr);
  });
  // Make sure this thread can receive it.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, g_kick_signal);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  return Napi::Number::New(info.Env(), g_kick_signal);
}

// setKickTarget(kvmRunMapping | null): the kvm_run this thread runs. The buffer
// must be a live mapping from mmap() (an ordinary ArrayBuffer could be freed
// under the handler); null clears the target.
Napi::Value SetKickTarget(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool clear = info.Length() == 0 || info[0].IsNull() || info[0].IsUndefined();
  if (!clear && !info[0].IsArrayBuffer()) return ThrowType(env, "setKickTarget expects a mapped ArrayBuffer or null");
  if (t_kick_slot == nullptr) {
    if (clear) return env.Undefined();
    t_kick_owner.armed = true;  // registers the owner's destructor for this thread
    auto* slot = new KickSlot();
    std::lock_guard<std::mutex> lock(g_kick_mu);
    g_kick_slots.push_back(slot);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    t_kick_slot = slot;
  }
  if (clear) {
    std::lock_guard<std::mutex> lock(g_kick_mu);
    t_kick_slot->target.store(nullptr, std::memory_order_seq_cst);
    t_kick_slot->mapping = nullptr;
    return env.Undefined();
  }
  auto ab = info[0].As<Napi::ArrayBuffer>();
  if (ab.ByteLength() < sizeof(struct kvm_run)) return ThrowType(env, "buffer smaller than kvm_run");
  // Lock order: g_maps_mu, then g_kick_mu (as unmapping takes them).
  std::lock_guard<std::mutex> maps(g_maps_mu);
  auto it = g_maps.find(ab.Data());
  if (it == g_maps.end() || it->second->unmapped || it->second->len < sizeof(struct kvm_run)) {
    return ThrowType(env, "setKickTarget expects a live mapping from mmap()");
  }
  std::lock_guard<std::mutex> lock(g_kick_mu);
  t_kick_slot->mapping = it->second;
  t_kick_slot->target.store(static_cast<struct kvm_run*>(it->second->addr), std::memory_order_seq_cst);
  return env.Undefined();
}

// threadTimerCreate(clockid) -> timer id that sends the kick signal to this thread.
Napi::Value ThreadTimerCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (g_kick_signal == 0) return ThrowType(env, "call kickSignal() first");
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = g_kick_signal;
  sev._sigev_un._tid = static_cast<pid_t>(syscall(SYS_gettid));
  int timerid = -1;
  long r = syscall(SYS_timer_create, static_cast<clockid_t>(ToI64(info[0])), &sev, &timerid);
  if (r < 0) return Napi::Number::New(env, -errno);
  return Napi::Number::New(env, timerid);
}

// threadTimerSet(id, valueNs, intervalNs): arm (or disarm with 0) a timer.
Napi::Value ThreadTimerSet(const Napi::CallbackInfo& info) {
  uint64_t v = ToU64(info[1]);
  uint64_t iv = ToU64(info[2]);
  struct itimerspec its;
  its.it_value.tv_sec = static_cast<time_t>(v / 1000000000ULL);
  its.it_value.tv_nsec = static_cast<long>(v % 1000000000ULL);
  its.it_interval.tv_sec = static_cast<time_t>(iv / 1000000000ULL);
  its.it_interval.tv_nsec = static_cast<long>(iv % 1000000000ULL);
  long r = syscall(SYS_timer_settime, static_cast<int>(ToI64(info[0])), 0, &its, nullptr);
  return Ret(info.Env(), r);
}

Napi::Value ThreadTimerDelete(const Napi::CallbackInfo& info) {
  return Ret(info.Env(), syscall(SYS_timer_delete, static_cast<int>(ToI64(info[0]))));
}

// ---------------------------------------------------------------- spawn

// spawn({file, argv, envp, cwd?, fds?: number[], seccomp?: Uint8Array (sock_filter[]),
//        seccompFlags?: number, traceme?: boolean, noNewPrivs?: boolean})
//   -> {pid, listenerFd}
// fork + exec with the filter installed in the child just before exec. With
// SECCOMP_FILTER_FLAG_NEW_LISTENER the child's listener fd is passed back over a
// socketpair. An exec failure is reported through a CLOEXEC pipe as an error.
long MonotonicMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

// Takes the child's listener (its fd `lfd`) with pidfd_getfd once its filter is in place, then
// lets the child go on (`*handoff`). Returns the listener or -1; `*pidfd` is the child's pidfd
// (-1 if it could not be opened), for the caller to close.
int FetchListener(pid_t pid, int lfd, int errfd, int* handoff, int* pidfd_out) {
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  *pidfd_out = pidfd;
  if (pidfd < 0) {
    __atomic_store_n(handoff, 1, __ATOMIC_RELEASE);
    return -1;
  }
  int listener = -1;
  // Until the child's filter is in place (10 s at most: a loaded machine may not run it soon).
  for (long start = MonotonicMs(); listener < 0 && MonotonicMs() - start < 10000;) {
    listener = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, lfd, 0));
    if (listener >= 0) break;
    if (errno != EBADF) break;
    // Until the child's filter is in place fd lfd is not open; stop if it died or failed.
    struct pollfd p[2] = {{errfd, POLLIN, 0}, {pidfd, POLLIN, 0}};
    if (poll(p, 2, 0) > 0) break;
    sched_yield();
  }
  if (listener >= 0) fcntl(listener, F_SETFD, FD_CLOEXEC);
  __atomic_store_n(handoff, 1, __ATOMIC_RELEASE);  // the child may go on to execve
  return listener;
}

// The child's listener, then exactly one notification let through (CONTINUE): the spawn code's
// exec (`exec_nr`). Another notification is the failed exec's report and exit (the failure is on
// the shared page, handoff[1], by then) or already the new program's first call, which stays
// pending for the platform. The error pipe's EOF is not enough to stop at: another thread's fork
// (or a jailed spawn's init) may hold a copy of its write end after the exec, and the calls the
// program made meanwhile would run unserved. Returns the listener or -1.
int TakeListener(pid_t pid, int lfd, int errfd, int* handoff, long exec_nr) {
  int pidfd;
  int listener = FetchListener(pid, lfd, errfd, handoff, &pidfd);
  if (pidfd < 0) return -1;
  bool exec_let_through = false;
  while (listener >= 0) {
    struct pollfd p[3] = {{pidfd, POLLIN, 0}, {listener, POLLIN, 0}, {errfd, POLLIN, 0}};
    int r = poll(p, 3, -1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) break;
    if (p[0].revents & POLLIN) break;  // the child died (its failure is on the page or the pipe)
    // The error pipe's EOF: the exec is done (a program that makes no call is not waited for).
    // Also before any exec was let through: a caller's filter may run execve natively, and the
    // pipe closes only at the exec (close-on-exec) or the child's death, never earlier; a copy
    // another thread holds can only delay the EOF, never fake it.
    if (p[2].revents & (POLLIN | POLLHUP)) break;
    if (!(p[1].revents & POLLIN)) {
      if (p[1].revents & (POLLHUP | POLLERR)) break;
      continue;
    }
    bool failed = __atomic_load_n(handoff + 1, __ATOMIC_ACQUIRE) != 0;
    if (exec_let_through && !failed) break;  // the program's first call: the platform's to serve
    struct seccomp_notif req;
    memset(&req, 0, sizeof req);
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) {
      if (errno == EINTR || errno == ENOENT) continue;
      break;
    }
    struct seccomp_notif_resp resp;
    memset(&resp, 0, sizeof resp);
    resp.id = req.id;
    if (static_cast<pid_t>(req.pid) == pid && (failed || (!exec_let_through && req.data.nr == exec_nr))) {
      resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
      exec_let_through = true;
    } else {
      resp.error = -EPERM;  // nothing else is the spawn code's
    }
    ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
  }
  close(pidfd);
  return listener;
}

[[noreturn]] void ChildFail(int pipefd, int step, int err) {
  int msg[2] = {step, err};
  ssize_t ignored = write(pipefd, msg, sizeof msg);
  (void)ignored;
  _exit(127);
}

// ---------------------------------------------------------------- jailed spawn
//
// spawn({..., jail: {uid, gid, maxTasks, cgroupProcsFd, namespaces, emptyRoot}})
//   -> {pid, listenerFd, initPid, statusFd, jail: {...}}
// The child is a tiny init (pid 1 of new pid, mount, ipc, uts and net
// namespaces, plus a user namespace when not root) that forks the program as
// pid 2 and reaps. Before the fork init opens the program file, pivots into an
// empty read-only tmpfs, sets RLIMIT_NPROC, drops to the sandbox's uid/gid with
// an empty bounding set and locked securebits, and keeps only
// CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH for the program's execveat (the kernel
// clears them at exec: a non-root uid under SECBIT_NOROOT gains nothing). When
// the program exits init writes its wait status to `statusFd` and exits, and
// the kernel kills what is left in the namespace; PR_SET_PDEATHSIG kills init
// when the spawning thread dies. Where the kernel refuses a namespace the spawn
// goes on without it and says so in `jail.notes`.
//
// Only raw system calls run in the children: they are forked from a
// multithreaded process with a raw clone (no atfork handlers, no malloc).

struct JailMsg {
  int step;  // 0: the program is ready (a: listener fd number, b: host pid); 100: init's report (a: root mode); else a failure
  int a;
  int b;
};

enum JailRoot { kRootHost = 0, kRootPivot = 1, kRootChroot = 2 };

struct JailChild {
  const char* file;
  char* const* argv;
  char* const* envp;
  const std::vector<int>* src;
  int errw, gor, statusw;
  unsigned long nsflags;
  bool empty_root, want_listener, has_filter, no_new_privs, host_root;
  int highest;  // the program's fds are 0..highest-4: init's own fds go above
  const char* cwd;  // the program's working directory when its root is the host's (else ignored)
  long max_tasks;
  const std::vector<int64_t>* rlimits;  // [resource, soft, hard]...: set in init, inherited by the program
  unsigned seccomp_flags;
  struct sock_fprog* prog;
  int* handoff;
};

[[noreturn]] void JailFail(int fd, int step, int err) {
  JailMsg m = {step, err, 0};
  ssize_t ignored = write(fd, &m, sizeof m);
  (void)ignored;
  _exit(127);
}

int CapSet(uint64_t caps) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  data[0].effective = data[0].permitted = static_cast<uint32_t>(caps);
  data[1].effective = data[1].permitted = static_cast<uint32_t>(caps >> 32);
  return static_cast<int>(syscall(SYS_capset, &hdr, data));
}

void CloseFrom(int lo, int hi) {  // closes [lo, hi]
  if (lo > hi) return;
  if (syscall(SYS_close_range, lo, hi, 0) == 0) return;
  for (int fd = lo; fd <= hi && fd < 65536; fd++) close(fd);
}

[[noreturn]] void JailProgram(const JailChild& c, int exefd, int procfd, bool host_fs) {
  const std::vector<int>& src = *c.src;
  for (size_t i = 0; i < src.size(); i++) {
    if (src[i] < 0) {
      close(static_cast<int>(i));
    } else if (dup2(src[i], static_cast<int>(i)) < 0) {
      JailFail(c.errw, 1, errno);
    }
  }
  close(c.statusw);
  if (c.cwd != nullptr && host_fs && chdir(c.cwd) < 0) JailFail(c.errw, 2, errno);
  // Nothing of the host's but fds 0..n-1 survives execveat.
  syscall(SYS_close_range, static_cast<unsigned>(src.size()), ~0U, 4 /* CLOSE_RANGE_CLOEXEC */);
  // This process's host pid: /proc/self of the host's procfs (opened before the pivot) names it.
  char buf[24];
  ssize_t n = procfd >= 0 ? readlinkat(procfd, "self", buf, sizeof buf - 1) : -1;
  if (n <= 0) JailFail(c.errw, 21, n < 0 ? errno : EINVAL);
  int hostpid = 0;
  for (ssize_t i = 0; i < n; i++) hostpid = hostpid * 10 + (buf[i] - '0');
  close(procfd);
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) JailFail(c.errw, 23, errno);
  if (c.no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) JailFail(c.errw, 4, errno);
  // The caller's limits, in place before the program's first instruction (here, not in init:
  // an RLIMIT_AS below init's copy of Node's address space would fail its every mmap).
  for (size_t i = 0; i + 2 < c.rlimits->size(); i += 3) {
    const std::vector<int64_t>& l = *c.rlimits;
    struct rlimit rl = {l[i + 1] < 0 ? RLIM_INFINITY : static_cast<rlim_t>(l[i + 1]),
                        l[i + 2] < 0 ? RLIM_INFINITY : static_cast<rlim_t>(l[i + 2])};
    if (setrlimit(static_cast<int>(l[i]), &rl) < 0) JailFail(c.errw, 24, errno);
  }
  int probe = -1;
  if (c.want_listener) {
    // The listener takes the lowest free fd: tell the parent which one (see Spawn).
    probe = fcntl(exefd, F_DUPFD, 0);
    if (probe < 0) JailFail(c.errw, 6, errno);
    close(probe);
  }
  JailMsg ready = {0, probe, hostpid};
  if (write(c.errw, &ready, sizeof ready) != sizeof ready) _exit(127);
  if (c.has_filter) {
    long lfd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, c.seccomp_flags, c.prog);
    if (lfd < 0) JailFail(c.errw, 5, errno);
    if (c.want_listener) {
      for (long spins = 0; __atomic_load_n(c.handoff, __ATOMIC_ACQUIRE) == 0 && spins < 4000000000L; spins++) {
        __builtin_ia32_pause();
      }
    }
  }
  syscall(SYS_execveat, exefd, "", c.argv, c.envp, AT_EMPTY_PATH);
  if (!c.has_filter) JailFail(c.errw, 7, errno);
  // Under the filter the failure is told through the shared page, with no call to notify:
  // the parent lets exactly one call through (the execveat) and nothing after it.
  __atomic_store_n(c.handoff + 1, errno == 0 ? EINVAL : errno, __ATOMIC_RELEASE);
  syscall(SYS_exit_group, 127);
  for (;;) {
  }
}

struct JailProgramArgs {
  const JailChild* c;
  int exefd, procfd;
  bool host_fs;
};

int JailProgramEntry(void* p) {
  auto* a = static_cast<JailProgramArgs*>(p);
  JailProgram(*a->c, a->exefd, a->procfd, a->host_fs);
}

[[noreturn]] void JailInit(const JailChild& c) {
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
  // The parent's go: {uid, gid} once it has placed this process in its cgroup (and id maps).
  unsigned ids[2];
  ssize_t n;
  do {
    n = read(c.gor, ids, sizeof ids);
  } while (n < 0 && errno == EINTR);
  if (n != sizeof ids) _exit(127);
  close(c.gor);
  const bool userns = (c.nsflags & CLONE_NEWUSER) != 0;
  const bool mountns = (c.nsflags & CLONE_NEWNS) != 0;
  if (mountns && mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) JailFail(c.errw, 8, errno);
  // Above the program's fd range, which its dup2s fill.
  auto high = [&](int fd) {
    if (fd < 0) return fd;
    int r = fcntl(fd, F_DUPFD_CLOEXEC, c.highest);
    close(fd);
    return r;
  };
  int exefd = high(open(c.file, O_PATH | O_CLOEXEC));
  if (exefd < 0) JailFail(c.errw, 9, errno);
  int procfd = high(open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC));
  int root = kRootHost;
  if (mountns && c.empty_root) {
    // An empty, read-only tmpfs mounted (in this mount namespace only) on a directory every
    // Linux has, then pivot_root(".", ".") and a lazy unmount of the old root on top of it.
    if (mount("kindling", "/proc", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY,
              "size=4k,nr_inodes=1,mode=0555") < 0)
      JailFail(c.errw, 10, errno);
    if (chdir("/proc") < 0) JailFail(c.errw, 10, errno);
    if (syscall(SYS_pivot_root, ".", ".") == 0) {
      if (umount2(".", MNT_DETACH) < 0) JailFail(c.errw, 11, errno);
      root = kRootPivot;
    } else if (chroot(".") == 0) {
      root = kRootChroot;  // e.g. "/" is not a mount point (initramfs): a chroot, with no capability to leave it
    } else {
      JailFail(c.errw, 11, errno);
    }
    if (chdir("/") < 0) JailFail(c.errw, 11, errno);
  }
  if (c.max_tasks > 0) {
    struct rlimit rl = {static_cast<rlim_t>(c.max_tasks), static_cast<rlim_t>(c.max_tasks)};
    if (setrlimit(RLIMIT_NPROC, &rl) < 0) JailFail(c.errw, 12, errno);
  }
  if (c.host_root || userns) {
    for (int cap = 0; cap < 64; cap++) {
      if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) JailFail(c.errw, 18, errno);
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    // No root magic at exec, no capability fix-ups on uid changes, no ambient raise: all locked.
    const unsigned long bits = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 6) | (1 << 7);
    if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0) JailFail(c.errw, 15, errno);
    // In a user namespace the sandbox's ids are its root (mapped to them on the host); its
    // creator (this process's parent) keeps every capability over it, e.g. to set its rlimits.
    const unsigned uid = userns ? 0 : ids[0], gid = userns ? 0 : ids[1];
    // Raw system calls: glibc's set*id wrappers signal every thread glibc believes exists
    // (__nptl_setxid), and after a raw clone that list is the parent's: they wait forever.
    if (c.host_root && syscall(SYS_setgroups, 0, nullptr) < 0) JailFail(c.errw, 13, errno);
    if (syscall(SYS_setresgid, gid, gid, gid) < 0) JailFail(c.errw, 14, errno);
    if (syscall(SYS_setresuid, uid, uid, uid) < 0) JailFail(c.errw, 16, errno);
    // Until the program's execveat: reach its file whatever its mode (cleared at exec).
    if (CapSet((1ULL << CAP_DAC_OVERRIDE) | (1ULL << CAP_DAC_READ_SEARCH)) < 0) JailFail(c.errw, 17, errno);
  }
  // After the uid change (which clears it): die with the thread that spawned us.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) JailFail(c.errw, 23, errno);
  {
    struct pollfd p = {c.statusw, 0, 0};
    if (poll(&p, 1, 0) > 0 && (p.revents & POLLERR)) _exit(127);  // the parent already died
  }
  const bool pidns = (c.nsflags & CLONE_NEWPID) != 0;
  if (!pidns) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  JailMsg info = {100, root, 0};
  if (write(c.errw, &info, sizeof info) != sizeof info) _exit(127);
  // The program shares init's memory until its execveat (CLONE_VM|CLONE_VFORK, on a stack of its
  // own; init waits meanwhile): init is a copy of Node's address space, and copying its page
  // tables a second time was most of a jailed spawn's cost.
  const size_t stack_size = 256 * 1024;
  void* stack = mmap(nullptr, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) JailFail(c.errw, 19, errno);
  JailProgramArgs args = {&c, exefd, procfd, root == kRootHost};
  long pid = clone(JailProgramEntry, static_cast<char*>(stack) + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
  if (pid < 0) JailFail(c.errw, 19, errno);
  munmap(stack, stack_size);
  close(c.errw);  // at once: the parent takes EOF on it for the program's exec
  // Init keeps nothing but the status pipe, and no capability.
  CapSet(0);
  CloseFrom(0, c.statusw - 1);
  CloseFrom(c.statusw + 1, 65535);
  for (;;) {
    int st = 0;
    long r = wait4(-1, &st, __WALL, nullptr);
    if (r < 0 && errno == EINTR) continue;
    if (r == pid) {
      ssize_t ignored = write(c.statusw, &st, sizeof st);
      (void)ignored;
      // Without a pid namespace: end every process of the sandbox's own uid and, as their
      // subreaper, reap them all before exiting.
      if (!pidns && c.host_root) {
        kill(-1, SIGKILL);
        while (wait4(-1, nullptr, __WALL, nullptr) > 0 || errno == EINTR) {
        }
      }
      _exit(0);  // pid 1 exits: the kernel kills the rest of the namespace
    }
    if (r < 0) _exit(0);
  }
}

// Namespaces that worked (a failed clone drops one and retries; the result is kept).
std::atomic<unsigned long> g_jail_ns{~0UL};

const struct {
  unsigned long flag;
  const char* name;
} kJailNs[] = {{CLONE_NEWUTS, "uts"}, {CLONE_NEWIPC, "ipc"}, {CLONE_NEWNET, "net"},
               {CLONE_NEWNS, "mount"}, {CLONE_NEWPID, "pid"}, {CLONE_NEWUSER, "user"}};

bool WriteProcFile(pid_t pid, const char* name, const std::string& text) {
  std::string path = "/proc/" + std::to_string(pid) + "/" + name;
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  return ok;
}

Napi::Value SpawnJailed(Napi::Env env, Napi::Object jail, const std::string& file, std::vector<char*>& argv,
                        std::vector<char*>& envp, const std::vector<int>& fds, struct sock_fprog* prog,
                        bool has_filter, unsigned seccomp_flags, bool no_new_privs, const char* cwd) {
  const bool want_listener = has_filter && (seccomp_flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) != 0;
  const bool host_root = geteuid() == 0;
  long uid_opt = jail.Has("uid") && jail.Get("uid").IsNumber() ? jail.Get("uid").As<Napi::Number>().Int64Value() : -1;
  long gid_opt = jail.Has("gid") && jail.Get("gid").IsNumber() ? jail.Get("gid").As<Napi::Number>().Int64Value() : -1;
  long max_tasks = jail.Has("maxTasks") ? ToI64(jail.Get("maxTasks")) : 0;
  int cgroup_fd = jail.Has("cgroupProcsFd") ? static_cast<int>(ToI64(jail.Get("cgroupProcsFd"))) : -1;
  bool namespaces = !jail.Has("namespaces") || jail.Get("namespaces").ToBoolean().Value();
  bool empty_root = !jail.Has("emptyRoot") || jail.Get("emptyRoot").ToBoolean().Value();
  std::vector<int64_t> rlimits;
  if (jail.Has("rlimits") && jail.Get("rlimits").IsArray()) {
    Napi::Array a = jail.Get("rlimits").As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) rlimits.push_back(ToI64(a.Get(i)));
  }
  std::vector<std::string> notes;

  unsigned long want = 0;
  if (namespaces) {
    // A user namespace even for root: its creator holds every capability over it (here root
    // may lack CAP_SYS_RESOURCE, which prlimit on another uid's process needs).
    want = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET;
  }
  unsigned long known = g_jail_ns.load();
  unsigned long flags = want & known;
  for (auto& ns : kJailNs) {
    if ((want & ns.flag) && !(known & ns.flag)) notes.push_back(std::string(ns.name) + " namespace: refused by the kernel earlier");
  }

  // Every fd a child uses sits above the target range so the dup2s cannot clobber it.
  const int highest = static_cast<int>(fds.size()) + 3;
  auto raise = [&](int fd) {
    int r = fcntl(fd, F_DUPFD_CLOEXEC, highest);
    close(fd);
    return r;
  };
  int errp[2], gop[2], stp[2];
  if (pipe2(errp, O_CLOEXEC) < 0) return ThrowErrno(env, "pipe2", errno);
  if (pipe2(gop, O_CLOEXEC) < 0) {
    int err = errno;
    close(errp[0]);
    close(errp[1]);
    return ThrowErrno(env, "pipe2", err);
  }
  if (pipe2(stp, O_CLOEXEC) < 0) {
    int err = errno;
    close(errp[0]);
    close(errp[1]);
    close(gop[0]);
    close(gop[1]);
    return ThrowErrno(env, "pipe2", err);
  }
  errp[1] = raise(errp[1]);
  gop[0] = raise(gop[0]);
  stp[1] = raise(stp[1]);
  std::vector<int> src(fds.size());
  for (size_t i = 0; i < fds.size(); i++) src[i] = fds[i] < 0 ? -1 : fcntl(fds[i], F_DUPFD_CLOEXEC, highest);
  auto cleanup = [&]() {
    for (int s : src) if (s >= 0) close(s);
    for (int fd : {errp[0], errp[1], gop[0], gop[1], stp[0], stp[1]}) if (fd >= 0) close(fd);
  };
  if (errp[1] < 0 || gop[0] < 0 || stp[1] < 0) {
    int err = errno;
    cleanup();
    return ThrowErrno(env, "fcntl", err);
  }
  int* handoff = nullptr;
  void* page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) {
    int err = errno;
    cleanup();
    return ThrowErrno(env, "mmap", err);
  }
  handoff = static_cast<int*>(page);

  JailChild c;
  c.file = file.c_str();
  c.argv = argv.data();
  c.envp = envp.data();
  c.src = &src;
  c.errw = errp[1];
  c.gor = gop[0];
  c.statusw = stp[1];
  c.empty_root = empty_root;
  c.want_listener = want_listener;
  c.has_filter = has_filter;
  c.no_new_privs = no_new_privs;
  c.host_root = host_root;
  c.max_tasks = max_tasks;
  c.highest = highest;
  c.cwd = cwd;
  c.rlimits = &rlimits;
  c.seccomp_flags = seccomp_flags;
  c.prog = prog;
  c.handoff = handoff;

  long pid;
  for (;;) {
    c.nsflags = flags;
    pid = syscall(SYS_clone, flags | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
    if (pid == 0) JailInit(c);
    if (pid > 0) break;
    int err = errno;
    if (err != EPERM && err != EINVAL && err != ENOSPC && err != EUSERS && err != EACCES) break;
    // Find which namespaces the kernel refuses, each alone (a child that exits at once), and
    // go on without those; if the rest together still fail, drop the least important one.
    bool dropped = false;
    for (auto& ns : kJailNs) {
      if (!(flags & ns.flag)) continue;
      long probe = syscall(SYS_clone, ns.flag | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
      if (probe == 0) _exit(0);
      if (probe > 0) {
        while (waitpid(static_cast<pid_t>(probe), nullptr, 0) < 0 && errno == EINTR) {
        }
        continue;
      }
      int perr = errno;
      flags &= ~ns.flag;
      g_jail_ns.fetch_and(~ns.flag);
      notes.push_back(std::string(ns.name) + " namespace: refused by the kernel (" + strerror(perr) + ")");
      dropped = true;
    }
    for (auto& ns : kJailNs) {
      if (dropped) break;
      if (flags & ns.flag) {
        flags &= ~ns.flag;
        g_jail_ns.fetch_and(~ns.flag);
        notes.push_back(std::string(ns.name) + " namespace: refused with the others (" + strerror(err) + ")");
        dropped = true;
      }
    }
    if (!dropped) break;
  }
  if (pid < 0) {
    int err = errno;
    cleanup();
    munmap(page, 4096);
    return ThrowErrno(env, "clone", err);
  }
  // Parent.
  for (int& s : src) if (s >= 0) { close(s); s = -1; }
  close(errp[1]);
  close(gop[0]);
  close(stp[1]);
  errp[1] = gop[0] = stp[1] = -1;
  unsigned long uid = uid_opt >= 0 ? static_cast<unsigned long>(uid_opt) : (1UL << 20) + static_cast<unsigned long>(pid);
  unsigned long gid = gid_opt >= 0 ? static_cast<unsigned long>(gid_opt) : uid;
  if (flags & CLONE_NEWUSER) {
    // Root in the namespace is the sandbox's uid on the host. Unprivileged, the only mapping
    // allowed is our own ids (and no setgroups).
    if (!host_root) {
      uid = geteuid();
      gid = getegid();
    }
    bool ok = (host_root || WriteProcFile(pid, "setgroups", "deny")) &&
              WriteProcFile(pid, "uid_map", "0 " + std::to_string(uid) + " 1") &&
              WriteProcFile(pid, "gid_map", "0 " + std::to_string(gid) + " 1");
    if (!ok) notes.push_back(std::string("user namespace id maps: ") + strerror(errno));
  } else if (!host_root) {
    uid = geteuid();
    gid = getegid();
    notes.push_back("not root and no user namespace: the program keeps the caller's uid");
  }
  bool in_cgroup = false;
  if (cgroup_fd >= 0) {
    std::string s = std::to_string(pid);
    if (write(cgroup_fd, s.data(), s.size()) == static_cast<ssize_t>(s.size())) in_cgroup = true;
    else notes.push_back(std::string("pids cgroup: ") + strerror(errno));
  }
  unsigned ids[2] = {static_cast<unsigned>(uid), static_cast<unsigned>(gid)};
  ssize_t w = write(gop[1], ids, sizeof ids);
  (void)w;
  close(gop[1]);
  gop[1] = -1;

  int root = kRootHost;
  int listener = -1;
  int hostpid = -1;
  JailMsg msg = {0, 0, 0};
  ssize_t n;
  bool failed = false;
  for (;;) {
    do {
      n = read(errp[0], &msg, sizeof msg);
    } while (n < 0 && errno == EINTR);
    if (n != sizeof msg) break;  // EOF: the program's execveat closed the pipe
    if (msg.step == 100) {
      root = msg.a;
    } else if (msg.step == 0 && hostpid < 0) {
      hostpid = msg.b;
      if (want_listener) listener = TakeListener(hostpid, msg.a, errp[0], handoff, SYS_execveat);
      else __atomic_store_n(handoff, 1, __ATOMIC_RELEASE);
    } else {
      failed = true;
      break;
    }
  }
  close(errp[0]);
  int exec_errno = __atomic_load_n(handoff + 1, __ATOMIC_ACQUIRE);
  munmap(page, 4096);
  if (exec_errno != 0 && !failed) {
    failed = true;
    msg.step = 7;
    msg.a = exec_errno;
  }
  if (failed || hostpid < 0 || (want_listener && listener < 0)) {
    kill(static_cast<pid_t>(pid), SIGKILL);  // init: the whole namespace goes with it
    if (listener >= 0) close(listener);
    int status;
    while (waitpid(static_cast<pid_t>(pid), &status, __WALL) < 0 && errno == EINTR) {
    }
    close(stp[0]);
    static const char* steps[] = {"",          "dup2",          "chdir",        "ptrace(TRACEME)",
                                  "prctl(NO_NEW_PRIVS)", "seccomp", "dup",   "execveat",
                                  "mount(MS_PRIVATE)", "open(program)", "mount(tmpfs)", "pivot_root",
                                  "setrlimit(RLIMIT_NPROC)", "setgroups", "setresgid", "prctl(SECUREBITS)",
                                  "setresuid", "capset", "prctl(CAPBSET_DROP)", "clone(program)",
                                  "", "readlink(/proc/self)", "", "prctl(PDEATHSIG)", "setrlimit"};
    if (!failed) return ThrowErrno(env, hostpid < 0 ? "spawn(init)" : "pidfd_getfd", hostpid < 0 ? ECHILD : EBADF);
    int step = msg.step >= 0 && msg.step < 25 ? msg.step : 0;
    return ThrowErrno(env, steps[step][0] ? steps[step] : "spawn", msg.a);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, hostpid));
  out.Set("listenerFd", Napi::Number::New(env, listener));
  out.Set("initPid", Napi::Number::New(env, static_cast<double>(pid)));
  out.Set("statusFd", Napi::Number::New(env, stp[0]));
  Napi::Object j = Napi::Object::New(env);
  Napi::Array nsa = Napi::Array::New(env);
  uint32_t k = 0;
  for (auto& ns : kJailNs) if (flags & ns.flag) nsa.Set(k++, Napi::String::New(env, ns.name));
  j.Set("namespaces", nsa);
  j.Set("root", Napi::String::New(env, root == kRootPivot ? "pivot_root" : root == kRootChroot ? "chroot" : "host"));
  if (root == kRootHost && empty_root) notes.push_back("no mount namespace: the program sees the host's root");
  if (root != kRootHost && cwd != nullptr) notes.push_back("cwd ignored: the program's root is empty");
  j.Set("uid", Napi::Number::New(env, static_cast<double>(uid)));
  j.Set("gid", Napi::Number::New(env, static_cast<double>(gid)));
  j.Set("capabilitiesDropped", Napi::Boolean::New(env, host_root || (flags & CLONE_NEWUSER) != 0));
  j.Set("noNewPrivs", Napi::Boolean::New(env, no_new_privs));
  j.Set("maxTasks", Napi::Number::New(env, static_cast<double>(max_tasks)));
  j.Set("cgroup", Napi::Boolean::New(env, in_cgroup));
  j.Set("pidNamespace", Napi::Boolean::New(env, (flags & CLONE_NEWPID) != 0));
  Napi::Array na = Napi::Array::New(env);
  for (uint32_t i = 0; i < notes.size(); i++) na.Set(i, Napi::String::New(env, notes[i]));
  j.Set("notes", na);
  out.Set("jail", j);
  return out;
}

Napi::Value Spawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) return ThrowType(env, "spawn expects an options object");
  Napi::Object o = info[0].As<Napi::Object>();
  std::string file = o.Get("file").As<Napi::String>().Utf8Value();
  std::vector<std::string> argv_s, envp_s;
  Napi::Array a = o.Get("argv").As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) argv_s.push_back(a.Get(i).As<Napi::String>().Utf8Value());
  Napi::Array e = o.Get("envp").As<Napi::Array>();
  for (uint32_t i = 0; i < e.Length(); i++) envp_s.push_back(e.Get(i).As<Napi::String>().Utf8Value());
  std::string cwd;
  bool has_cwd = o.Has("cwd") && o.Get("cwd").IsString();
  if (has_cwd) cwd = o.Get("cwd").As<Napi::String>().Utf8Value();
  std::vector<int> fds;  // fds[i] becomes the child's fd i; -1 closes it
  if (o.Has("fds") && o.Get("fds").IsArray()) {
    Napi::Array f = o.Get("fds").As<Napi::Array>();
    for (uint32_t i = 0; i < f.Length(); i++) fds.push_back(f.Get(i).As<Napi::Number>().Int32Value());
  } else {
    fds = {0, 1, 2};
  }
  std::vector<uint8_t> filter;
  if (o.Has("seccomp") && o.Get("seccomp").IsTypedArray()) {
    auto ta = o.Get("seccomp").As<Napi::TypedArray>();
    auto* p = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    filter.assign(p, p + ta.ByteLength());
    if (filter.size() % sizeof(struct sock_filter) != 0) return ThrowType(env, "seccomp program length not a multiple of 8");
  }
  unsigned seccomp_flags = o.Has("seccompFlags") ? static_cast<unsigned>(ToI64(o.Get("seccompFlags"))) : 0;
  bool traceme = o.Has("traceme") && o.Get("traceme").ToBoolean().Value();
  bool no_new_privs = !o.Has("noNewPrivs") || o.Get("noNewPrivs").ToBoolean().Value();
  bool want_listener = (seccomp_flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) != 0;

  std::vector<char*> argv, envp;
  for (auto& s : argv_s) argv.push_back(const_cast<char*>(s.c_str()));
  argv.push_back(nullptr);
  for (auto& s : envp_s) envp.push_back(const_cast<char*>(s.c_str()));
  envp.push_back(nullptr);
  struct sock_fprog prog;
  prog.len = static_cast<unsigned short>(filter.size() / sizeof(struct sock_filter));
  prog.filter = reinterpret_cast<struct sock_filter*>(filter.data());

  if (o.Has("jail") && o.Get("jail").IsObject()) {
    if (traceme) return ThrowType(env, "spawn: traceme and jail do not go together (init would be the tracer)");
    return SpawnJailed(env, o.Get("jail").As<Napi::Object>(), file, argv, envp, fds, &prog, !filter.empty(),
                       seccomp_flags, no_new_privs, has_cwd ? cwd.c_str() : nullptr);
  }

  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC) < 0) return ThrowErrno(env, "pipe2", errno);
  // Raise the fds we must place above the target range so dup2 order cannot clobber them.
  std::vector<int> src(fds.size());
  int highest = static_cast<int>(fds.size()) + 3;
  for (size_t i = 0; i < fds.size(); i++) src[i] = fds[i] < 0 ? -1 : fcntl(fds[i], F_DUPFD_CLOEXEC, highest);

  // A shared page on which the parent tells the child it took the listener.
  int* handoff = nullptr;
  if (want_listener) {
    void* page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
      int err = errno;
      for (int s : src) if (s >= 0) close(s);
      close(errpipe[0]);
      close(errpipe[1]);
      return ThrowErrno(env, "mmap", err);
    }
    handoff = static_cast<int*>(page);
  }
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    for (int s : src) if (s >= 0) close(s);
    close(errpipe[0]);
    close(errpipe[1]);
    return ThrowErrno(env, "fork", err);
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls from here on.
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, nullptr);
    for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
    for (size_t i = 0; i < src.size(); i++) {
      if (src[i] < 0) {
        close(static_cast<int>(i));
      } else if (dup2(src[i], static_cast<int>(i)) < 0) {
        ChildFail(errpipe[1], 1, errno);
      }
    }
    if (has_cwd && chdir(cwd.c_str()) < 0) ChildFail(errpipe[1], 2, errno);
    if (traceme) {
      if (ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) < 0) ChildFail(errpipe[1], 3, errno);
      raise(SIGSTOP);
    }
    if (no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) ChildFail(errpipe[1], 4, errno);
    if (!filter.empty()) {
      if (want_listener) {
        // The listener will take the lowest free fd: tell the parent which one while
        // system calls still run natively; it takes the fd with pidfd_getfd. After the
        // filter this child makes no call but execve (and, if that fails, the report).
        int probe = dup(0);
        if (probe < 0) probe = open("/dev/null", O_RDONLY);
        if (probe < 0) ChildFail(errpipe[1], 6, errno);
        close(probe);
        int info[2] = {0, probe};
        if (write(errpipe[1], info, sizeof info) != sizeof info) _exit(127);
      }
      long lfd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, seccomp_flags, &prog);
      if (lfd < 0) ChildFail(errpipe[1], 5, errno);
      if (want_listener) {
        // Wait, without a system call, until the parent holds the listener: execve
        // would close it (it is CLOEXEC) if the filter lets execve run natively.
        for (long spins = 0; __atomic_load_n(handoff, __ATOMIC_ACQUIRE) == 0 && spins < 4000000000L; spins++) {
          __builtin_ia32_pause();
        }
      }
    }
    execve(file.c_str(), argv.data(), envp.data());
    int err = errno;
    // Under the listener the parent lets one call through (the execve): the failure on the shared
    // page tells it the report and exit that follow are this code's, not the program's.
    if (want_listener) __atomic_store_n(handoff + 1, err == 0 ? EINVAL : err, __ATOMIC_RELEASE);
    ChildFail(errpipe[1], 7, err);
  }
  // Parent.
  for (int s : src) if (s >= 0) close(s);
  close(errpipe[1]);
  int listener = -1;
  int msg[2] = {0, 0};
  ssize_t n;
  do {
    n = read(errpipe[0], msg, sizeof msg);
  } while (n < 0 && errno == EINTR);
  if (want_listener && n == sizeof msg && msg[0] == 0) {
    listener = TakeListener(pid, msg[1], errpipe[0], handoff, SYS_execve);
    do {
      n = read(errpipe[0], msg, sizeof msg);
    } while (n < 0 && errno == EINTR);
  }
  close(errpipe[0]);
  if (handoff != nullptr) munmap(handoff, 4096);
  if (n == sizeof msg) {
    // Past the filter the failing child cannot even exit without an answer: end it.
    if (want_listener) kill(pid, SIGKILL);
    if (listener >= 0) close(listener);
    int status;
    waitpid(pid, &status, 0);
    static const char* steps[] = {"", "dup2", "chdir", "ptrace(TRACEME)", "prctl(NO_NEW_PRIVS)", "seccomp", "dup", "execve"};
    return ThrowErrno(env, steps[msg[0] & 7], msg[1]);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, pid));
  out.Set("listenerFd", Napi::Number::New(env, listener));
  return out;
}

// waitpid(pid, options) -> [pid, status] or [-errno, 0]
Napi::Value Waitpid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int status = 0;
  pid_t r;
  do {
    r = waitpid(static_cast<pid_t>(ToI64(info[0])), &status, static_cast<int>(ToI64(info[1])));
  } while (r < 0 && errno == EINTR);
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, r < 0 ? -errno : r));
  out.Set(1u, Napi::Number::New(env, status));
  return out;
}

// seccompInstall(program: Uint8Array, flags) -> result of seccomp(2) or -errno.
// Sets PR_SET_NO_NEW_PRIVS first, as an unprivileged process must.
Napi::Value SeccompInstall(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t* data;
  size_t len;
  if (!BufferOf(info[0], &data, &len) || len % sizeof(struct sock_filter) != 0 || len == 0)
    return ThrowType(env, "seccompInstall expects a non-empty sock_filter array");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return Napi::Number::New(env, -errno);
  struct sock_fprog prog;
  prog.len = static_cast<unsigned short>(len / sizeof(struct sock_filter));
  prog.filter = reinterpret_cast<struct sock_filter*>(data);
  long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, static_cast<unsigned>(ToI64(info[1])), &prog);
  return Ret(env, r);
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("mmap", Napi::Function::New(env, Mmap));
  exports.Set("munmap", Napi::Function::New(env, Munmap));
  exports.Set("madvise", Napi::Function::New(env, RangeOp<madvise>));
  exports.Set("mprotect", Napi::Function::New(env, RangeOp<mprotect>));
  exports.Set("msync", Napi::Function::New(env, RangeOp<msync>));
  exports.Set("addressOf", Napi::Function::New(env, AddressOf));
  exports.Set("mappingContains", Napi::Function::New(env, MappingContains));
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("close", Napi::Function::New(env, Close));
  exports.Set("ioctl", Napi::Function::New(env, Ioctl));
  exports.Set("ioctlRun", Napi::Function::New(env, IoctlRun));
  exports.Set("memfdCreate", Napi::Function::New(env, MemfdCreate));
  exports.Set("ftruncate", Napi::Function::New(env, Ftruncate));
  exports.Set("eventfd", Napi::Function::New(env, Eventfd));
  exports.Set("eventfdRead", Napi::Function::New(env, EventfdRead));
  exports.Set("eventfdWrite", Napi::Function::New(env, EventfdWrite));
  exports.Set("pread", Napi::Function::New(env, PreadPwrite<false>));
  exports.Set("pwrite", Napi::Function::New(env, PreadPwrite<true>));
  exports.Set("syscall", Napi::Function::New(env, Syscall));
  exports.Set("gettid", Napi::Function::New(env, Gettid));
  exports.Set("kickSignal", Napi::Function::New(env, KickSignal));
  exports.Set("setKickTarget", Napi::Function::New(env, SetKickTarget));
  exports.Set("threadTimerCreate", Napi::Function::New(env, ThreadTimerCreate));
  exports.Set("threadTimerSet", Napi::Function::New(env, ThreadTimerSet));
  exports.Set("threadTimerDelete", Napi::Function::New(env, ThreadTimerDelete));
  exports.Set("spawn", Napi::Function::New(env, Spawn));
  exports.Set("waitpid", Napi::Function::New(env, Waitpid));
  exports.Set("seccompInstall", Napi::Function::New(env, SeccompInstall));
  void KindlingJailRegister(Napi::Env, Napi::Object); KindlingJailRegister(env, exports);  // native/jail.cc
  return exports;
}

NODE_API_MODULE(kindling_sys, Init)
