// The supervisor's jail (Firecracker's jailer, in-process): start a program in
// new user, mount, pid, ipc, uts and net namespaces whose root is an empty
// tmpfs holding only the paths it was given, and report a system call the
// supervisor's seccomp policy forbids before the process ends.
//
// Why native: a Node process has threads, and unshare(CLONE_NEWUSER|CLONE_NEWNS)
// refuses a multi-threaded caller; clone() with the namespace flags does not.
// The cloned child is a copy of this process that makes only raw system calls
// (no malloc, no locks) on strings prepared before the clone.
#include <napi.h>

#include "throw.h"

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace kindling_jail {

namespace {

using kindling::ThrowErrno;

enum OpKind { kDir = 0, kSymlink = 1, kBind = 2, kTmpfs = 3, kProc = 4 };

struct Op {
  int kind;
  std::string target;  // stage + jail path
  std::string source;  // bind: host path (no symlinks); symlink: its text
  bool writable;
  bool device;
  bool file;
};

// Failure steps, reported as {step, errno} on the error pipe.
const char* const kSteps[] = {"",        "uid_map",  "make / private", "tmpfs root", "mkdir",  "symlink",
                              "open bind source", "open_tree", "move_mount", "mount_setattr", "mount tmpfs",
                              "mount proc", "pivot_root", "umount old root", "remount / read-only",
                              "fork", "execve", "create bind target", "sethostname"};

[[noreturn]] void Fail(int fd, int step, int err) {
  int msg[2] = {step, err};
  ssize_t ignored = write(fd, msg, sizeof msg);
  (void)ignored;
  _exit(127);
}

void ResetSignals() {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
}

void NoopHandler(int) {}

// Runs in the child (pid 1 of the new pid namespace). Never returns.
[[noreturn]] void ChildMain(int syncfd, int errfd, const std::string& stage, const std::vector<Op>& ops,
                            const std::string& cwd, const char* file, char* const* argv, char* const* envp,
                            const std::string& oldroot) {
  // The supervisor (our parent) dies: so does the jail.
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  char go = 0;
  ssize_t n;
  do {
    n = read(syncfd, &go, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1) Fail(errfd, 1, EPIPE);  // the parent could not write the id maps
  close(syncfd);

  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) Fail(errfd, 2, errno);
  if (mount("kindling-jail", stage.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") < 0)
    Fail(errfd, 3, errno);
  for (const Op& op : ops) {
    const char* t = op.target.c_str();
    switch (op.kind) {
      case kDir:
        if (mkdir(t, 0755) < 0 && errno != EEXIST) Fail(errfd, 4, errno);
        break;
      case kSymlink:
        if (symlink(op.source.c_str(), t) < 0 && errno != EEXIST) Fail(errfd, 5, errno);
        break;
      case kTmpfs:
        if (mkdir(t, 01777) < 0 && errno != EEXIST) Fail(errfd, 4, errno);
        if (mount("kindling-tmp", t, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m") < 0)
          Fail(errfd, 10, errno);
        break;
      case kProc:
        if (mkdir(t, 0555) < 0 && errno != EEXIST) Fail(errfd, 4, errno);
        if (mount("proc", t, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) < 0) Fail(errfd, 11, errno);
        break;
      case kBind: {
        // The source is opened without following any symlink (the operator's
        // path was resolved by the caller; a sandbox may have planted one since).
        struct open_how how;
        memset(&how, 0, sizeof how);
        how.flags = O_PATH | O_CLOEXEC;
        how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
        int src = static_cast<int>(syscall(SYS_openat2, AT_FDCWD, op.source.c_str(), &how, sizeof how));
        if (src < 0) Fail(errfd, 6, errno);
        // The target: an empty file or directory on the tmpfs, unless the path
        // already exists inside an earlier bind.
        struct stat st;
        if (lstat(t, &st) < 0) {
          if (op.file) {
            int fd = open(t, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
            if (fd < 0) Fail(errfd, 17, errno);
            close(fd);
          } else if (mkdir(t, 0755) < 0) {
            Fail(errfd, 17, errno);
          }
        }
        int tree = static_cast<int>(
            syscall(SYS_open_tree, src, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE));
        if (tree < 0) Fail(errfd, 7, errno);
        close(src);
        if (syscall(SYS_move_mount, tree, "", AT_FDCWD, t, MOVE_MOUNT_F_EMPTY_PATH) < 0) Fail(errfd, 8, errno);
        close(tree);
        struct mount_attr attr;
        memset(&attr, 0, sizeof attr);
        attr.attr_set = MOUNT_ATTR_NOSUID | (op.device ? 0 : MOUNT_ATTR_NODEV) | (op.writable ? 0 : MOUNT_ATTR_RDONLY);
        if (syscall(SYS_mount_setattr, AT_FDCWD, t, AT_RECURSIVE | AT_SYMLINK_NOFOLLOW, &attr, sizeof attr) < 0)
          Fail(errfd, 9, errno);
        break;
      }
      default:
        Fail(errfd, 4, EINVAL);
    }
  }
  if (sethostname("kindling-jail", 13) < 0) Fail(errfd, 18, errno);
  if (mkdir(oldroot.c_str(), 0700) < 0 && errno != EEXIST) Fail(errfd, 4, errno);
  if (syscall(SYS_pivot_root, stage.c_str(), oldroot.c_str()) < 0) Fail(errfd, 12, errno);
  if (chdir("/") < 0) Fail(errfd, 12, errno);
  const char* old = oldroot.c_str() + stage.size();  // its path below the new root
  if (umount2(old, MNT_DETACH) < 0) Fail(errfd, 13, errno);
  rmdir(old);
  if (mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) < 0)
    Fail(errfd, 14, errno);

  // pid 1 of the namespace stays a small init: it forwards the usual
  // termination signals to the program and exits with its status.
  sigset_t fwd;
  sigemptyset(&fwd);
  const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
  for (int s : forwarded) sigaddset(&fwd, s);
  sigaddset(&fwd, SIGCHLD);
  // pid 1 gets a signal from outside only if it has a handler.
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = NoopHandler;
  for (int s : forwarded) sigaction(s, &sa, nullptr);
  sigprocmask(SIG_BLOCK, &fwd, nullptr);
  pid_t child = static_cast<pid_t>(syscall(SYS_clone, SIGCHLD, nullptr, nullptr, nullptr, nullptr));  // no atfork handlers
  if (child < 0) Fail(errfd, 15, errno);
  if (child == 0) {
    ResetSignals();
    if (!cwd.empty() && chdir(cwd.c_str()) < 0) {
      if (chdir("/") < 0) Fail(errfd, 12, errno);
    }
    // Node marks its stdio close-on-exec; the program inherits 0, 1 and 2.
    for (int fd = 0; fd < 3; fd++) fcntl(fd, F_SETFD, 0);
    execve(file, argv, envp);
    Fail(errfd, 16, errno);
  }
  close(errfd);
  // Hold nothing the program's readers or writers wait on (stderr stays, for the report below).
  close(0);
  close(1);
  for (;;) {
    siginfo_t si;
    int s = sigwaitinfo(&fwd, &si);
    if (s < 0) continue;
    if (s != SIGCHLD) {
      kill(child, s);
      continue;
    }
    int status;
    pid_t r;
    while ((r = waitpid(-1, &status, WNOHANG)) > 0) {
      if (r != child) continue;
      if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) {
        // A trap its own handler could not report (taken with signals blocked, as glibc does
        // around clone): say so here.
        static const char msg[] =
            "kindling: --jail: the supervisor was stopped by its seccomp policy (SIGSYS) in a system call "
            "it made with signals blocked; `strace -f` shows which\n";
        ssize_t ignored = write(2, msg, sizeof msg - 1);
        (void)ignored;
      }
      _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
  }
}

std::string Str(const Napi::Value& v) { return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string(); }

bool WriteFile(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  return ok;
}

// jailSpawn({file, argv, envp, stage, ops: [{kind, path, source?, writable?, device?, file?}], cwd?,
//            uidMap?, gidMap?, denySetgroups?})
//   -> pid (in this process's pid namespace)
// `stage` is an empty host directory; the jail's root is a tmpfs mounted on it
// in the new mount namespace (the host sees nothing), then pivot_root'ed into.
// Each op's `path` is absolute inside the jail.
Napi::Value JailSpawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) {
    Napi::TypeError::New(env, "jailSpawn expects an options object").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  std::string file = Str(o.Get("file"));
  std::string stage = Str(o.Get("stage"));
  std::string cwd = Str(o.Get("cwd"));
  std::string uid_map = Str(o.Get("uidMap"));
  std::string gid_map = Str(o.Get("gidMap"));
  if (uid_map.empty()) uid_map = "0 0 4294967295\n";
  if (gid_map.empty()) gid_map = "0 0 4294967295\n";
  // An unprivileged parent may map only its own ids, and its gid only after setgroups is denied.
  bool deny_setgroups = o.Get("denySetgroups").ToBoolean().Value();
  if (file.empty() || stage.empty() || stage[0] != '/' || !o.Get("argv").IsArray() || !o.Get("envp").IsArray() ||
      !o.Get("ops").IsArray()) {
    Napi::TypeError::New(env, "jailSpawn: file, stage (absolute), argv, envp and ops are required")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::vector<std::string> argv_s, envp_s;
  Napi::Array a = o.Get("argv").As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) argv_s.push_back(Str(a.Get(i)));
  Napi::Array e = o.Get("envp").As<Napi::Array>();
  for (uint32_t i = 0; i < e.Length(); i++) envp_s.push_back(Str(e.Get(i)));
  std::vector<Op> ops;
  Napi::Array oa = o.Get("ops").As<Napi::Array>();
  for (uint32_t i = 0; i < oa.Length(); i++) {
    if (!oa.Get(i).IsObject()) continue;
    Napi::Object x = oa.Get(i).As<Napi::Object>();
    Op op;
    op.kind = x.Get("kind").ToNumber().Int32Value();
    std::string path = Str(x.Get("path"));
    if (path.empty() || path[0] != '/' || op.kind < kDir || op.kind > kProc) {
      Napi::TypeError::New(env, "jailSpawn: each op needs a known kind and an absolute path")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    op.target = stage + path;
    op.source = Str(x.Get("source"));
    op.writable = x.Get("writable").ToBoolean().Value();
    op.device = x.Get("device").ToBoolean().Value();
    op.file = x.Get("file").ToBoolean().Value();
    ops.push_back(op);
  }
  std::string oldroot = stage + "/.old-root";
  std::vector<char*> argv, envp;
  for (auto& s : argv_s) argv.push_back(const_cast<char*>(s.c_str()));
  argv.push_back(nullptr);
  for (auto& s : envp_s) envp.push_back(const_cast<char*>(s.c_str()));
  envp.push_back(nullptr);

  int syncp[2], errp[2];
  if (pipe2(syncp, O_CLOEXEC) < 0) return ThrowErrno(env, "pipe2", errno);
  if (pipe2(errp, O_CLOEXEC) < 0) {
    int err = errno;
    close(syncp[0]);
    close(syncp[1]);
    return ThrowErrno(env, "pipe2", err);
  }
  const unsigned long flags =
      CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET | CLONE_NEWCGROUP | SIGCHLD;
  long pid = syscall(SYS_clone, flags, nullptr, nullptr, nullptr, 0);
  if (pid < 0) {
    int err = errno;
    close(syncp[0]);
    close(syncp[1]);
    close(errp[0]);
    close(errp[1]);
    return ThrowErrno(env, "clone", err);
  }
  if (pid == 0) {
    ResetSignals();
    close(syncp[1]);
    close(errp[0]);
    ChildMain(syncp[0], errp[1], stage, ops, cwd, file.c_str(), argv.data(), envp.data(), oldroot);
  }
  close(syncp[0]);
  close(errp[1]);
  // Ids map one to one by default (a root parent): root in the jail is root for
  // the files it is given, with no capability over anything else of the host.
  std::string base = "/proc/" + std::to_string(pid);
  bool mapped = WriteFile(base + "/uid_map", uid_map) &&
                (!deny_setgroups || WriteFile(base + "/setgroups", "deny")) && WriteFile(base + "/gid_map", gid_map);
  int map_err = errno;
  if (mapped) {
    char go = 1;
    if (write(syncp[1], &go, 1) != 1) mapped = false;
  }
  close(syncp[1]);
  int msg[2] = {0, 0};
  ssize_t n;
  do {
    n = read(errp[0], msg, sizeof msg);
  } while (n < 0 && errno == EINTR);
  close(errp[0]);
  if (!mapped || n == sizeof msg) {
    kill(static_cast<pid_t>(pid), SIGKILL);
    int status;
    while (waitpid(static_cast<pid_t>(pid), &status, 0) < 0 && errno == EINTR) {
    }
    if (!mapped) return ThrowErrno(env, "jail: write uid_map/gid_map", map_err ? map_err : EPIPE);
    int step = msg[0] >= 0 && msg[0] < static_cast<int>(sizeof kSteps / sizeof kSteps[0]) ? msg[0] : 0;
    return ThrowErrno(env, (std::string("jail: ") + kSteps[step]).c_str(), msg[1]);
  }
  return Napi::Number::New(env, static_cast<double>(pid));
}

// jailWait(pid, timeoutMs) -> [status, timedOut]: waits for the jail's pid 1;
// past timeoutMs (< 0: none) it is killed (SIGKILL ends the whole namespace).
Napi::Value JailWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pid_t pid = static_cast<pid_t>(info[0].ToNumber().Int64Value());
  int64_t timeout = info[1].ToNumber().Int64Value();
  bool timed_out = false;
  if (timeout >= 0) {
    int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) return ThrowErrno(env, "pidfd_open", errno);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
      clock_gettime(CLOCK_MONOTONIC, &now);
      int64_t spent = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
      int left = spent >= timeout ? 0 : static_cast<int>(timeout - spent);
      struct pollfd p = {pidfd, POLLIN, 0};
      int r = poll(&p, 1, left);
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) {
        timed_out = true;
        syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
      }
      break;
    }
    close(pidfd);
  }
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return ThrowErrno(env, "waitpid", errno);
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, status));
  out.Set(1u, Napi::Boolean::New(env, timed_out));
  return out;
}

// ------------------------------------------------ the SIGSYS report

// One message per system call number, prepared before the filter: the handler
// only writes bytes and ends the process.
std::vector<std::string>* g_messages = nullptr;
std::string* g_unknown = nullptr;
int g_report_fd = 2;

void SigsysHandler(int, siginfo_t* si, void*) {
  const std::string* m = g_unknown;
  int nr = si->si_syscall;
  if (g_messages != nullptr && nr >= 0 && static_cast<size_t>(nr) < g_messages->size() && !(*g_messages)[nr].empty())
    m = &(*g_messages)[nr];
  if (m != nullptr) {
    ssize_t ignored = write(g_report_fd, m->data(), m->size());
    (void)ignored;
  }
  syscall(SYS_exit_group, 128 + SIGSYS);
  _exit(128 + SIGSYS);
}

// jailReportSigsys(messages: string[], unknown: string, fd) : on SIGSYS
// (SECCOMP_RET_TRAP), writes messages[nr] (or `unknown`) to fd and exits the
// process with status 159 (128 + SIGSYS), whichever thread made the call.
Napi::Value JailReportSigsys(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray() || !info[1].IsString()) {
    Napi::TypeError::New(env, "jailReportSigsys(messages, unknown, fd)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* messages = new std::vector<std::string>();
  Napi::Array a = info[0].As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) messages->push_back(Str(a.Get(i)));
  auto* unknown = new std::string(info[1].As<Napi::String>().Utf8Value());
  // Kept for the life of the process: a handler may run at any time.
  g_messages = messages;
  g_unknown = unknown;
  g_report_fd = info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 2;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = SigsysHandler;
  sa.sa_flags = SA_SIGINFO;
  sigfillset(&sa.sa_mask);
  if (sigaction(SIGSYS, &sa, nullptr) < 0) return ThrowErrno(env, "sigaction", errno);
  return env.Undefined();
}

}  // namespace

}  // namespace kindling_jail

// Called from addon.cc's Init.
void KindlingJailRegister(Napi::Env env, Napi::Object exports) {
  using namespace kindling_jail;
  exports.Set("jailSpawn", Napi::Function::New(env, JailSpawn));
  exports.Set("jailWait", Napi::Function::New(env, JailWait));
  exports.Set("jailReportSigsys", Napi::Function::New(env, JailReportSigsys));
}
