#include "syscalls/spawn.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

extern char** environ;

namespace muxloop {
namespace spawn {

namespace {

#if defined(__linux__)
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#endif

using AddChdirFn = int (*)(posix_spawn_file_actions_t*, const char*);
using AddClosefromFn = int (*)(posix_spawn_file_actions_t*, int);

// Resolved once; dlsym is thread-safe and both results are the same in every thread.
AddChdirFn AddChdir() {
  static AddChdirFn fn = reinterpret_cast<AddChdirFn>(dlsym(RTLD_DEFAULT, "posix_spawn_file_actions_addchdir_np"));
  return fn;
}

AddClosefromFn AddClosefrom() {
  static AddClosefromFn fn =
      reinterpret_cast<AddClosefromFn>(dlsym(RTLD_DEFAULT, "posix_spawn_file_actions_addclosefrom_np"));
  return fn;
}

bool IsExecutableFile(const std::string& path, int* err) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    *err = -errno;
    return false;
  }
  if (!S_ISREG(st.st_mode) || access(path.c_str(), X_OK) != 0) {
    *err = -EACCES;
    return false;
  }
  return true;
}

// execvp's search: "" entries mean the current directory; EACCES is remembered, ENOENT and
// ENOTDIR go on to the next entry.
int Resolve(const Spec& spec, std::string* out) {
  if (spec.file[0] == '\0') return -ENOENT;
  if (strchr(spec.file, '/') != nullptr) {
    *out = spec.file;  // relative to the child's cwd: posix_spawn resolves it after the chdir
    return 0;
  }
  const char* path = spec.envp == nullptr ? getenv("PATH") : spec.path_env;
  if (path == nullptr) path = "/bin:/usr/bin";  // Python's os.defpath
  int result = -ENOENT;
  for (const char* p = path;; ++p) {
    const char* end = strchr(p, ':');
    if (end == nullptr) end = p + strlen(p);
    std::string candidate = end == p ? std::string(".") : std::string(p, end - p);
    candidate += '/';
    candidate += spec.file;
    int err = 0;
    if (IsExecutableFile(candidate, &err)) {
      *out = std::move(candidate);
      return 0;
    }
    if (err == -EACCES) result = -EACCES;
    if (*end == '\0') break;
    p = end;
  }
  return result;
}

int SpawnResolved(const Spec& spec, const char* path, const int child_fds[3], pid_t* pid) {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  int err = posix_spawn_file_actions_init(&actions);
  if (err != 0) return -err;
  err = posix_spawnattr_init(&attr);
  if (err != 0) {
    posix_spawn_file_actions_destroy(&actions);
    return -err;
  }
  for (int i = 0; i < 3 && err == 0; i++) {
    if (child_fds[i] >= 0 && child_fds[i] != i) err = posix_spawn_file_actions_adddup2(&actions, child_fds[i], i);
  }
  // Python's close_fds=True: the child gets 0, 1 and 2 only, even if some library left an fd
  // without O_CLOEXEC. Every fd muxloop and libuv make is close-on-exec anyway.
  if (err == 0 && AddClosefrom() != nullptr) err = AddClosefrom()(&actions, 3);
  if (err == 0 && spec.cwd != nullptr) err = AddChdir() != nullptr ? AddChdir()(&actions, spec.cwd) : ENOTSUP;
  // The child starts with no signal blocked and every signal at its default action: Node ignores
  // SIGPIPE, and an ignored signal stays ignored across exec (Python's restore_signals, libuv).
  // Known gap: glibc's sigfillset leaves out its two internal signals (32 and 33), and its spawn
  // child sets those to SIG_IGN (sysdeps/unix/sysv/linux/spawni.c), so the program starts with 32
  // and 33 ignored. glibc programs never use them (SIGRTMIN is 34); a fork+exec would not do this.
  sigset_t all;
  sigset_t none;
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  sigemptyset(&none);
  if (err == 0) err = posix_spawnattr_setsigdefault(&attr, &all);
  if (err == 0) err = posix_spawnattr_setsigmask(&attr, &none);
  if (err == 0) err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  if (err == 0) err = posix_spawn(pid, path, &actions, &attr, spec.argv, spec.envp != nullptr ? spec.envp : environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  return -err;
}

// /dev/null, close-on-exec, on an fd above 2 (see Spawn).
int OpenDevNull() {
  const int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (fd < 0 || fd >= 3) return fd;
  const int high = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  const int saved = errno;
  close(fd);
  errno = saved;
  return high;
}

}  // namespace

int Spawn(const Spec& spec, Result* result) {
  result->syscall = "spawn";
  std::string path;
  int err = Resolve(spec, &path);
  if (err != 0) return err;
  if (spec.cwd != nullptr) {
    // posix_spawn's chdir failing would come back as the same ENOENT as a missing program.
    struct stat st;
    if (stat(spec.cwd, &st) != 0) err = -errno;
    else if (!S_ISDIR(st.st_mode)) err = -ENOTDIR;
    if (err != 0) {
      result->syscall = "chdir";
      result->bad_cwd = true;
      return err;
    }
  }
  // Every source on 0..2 is copied above 2 first, so that one dup2 never overwrites the source
  // of a later one (stdout=2, stderr=1 swaps them), and so that a source that is its own target
  // still gets the dup2 that clears close-on-exec (a pipe end or /dev/null lands on 0..2 when this
  // process runs with its stdio closed).
  int child_fds[3];
  int temps[3] = {-1, -1, -1};
  int dev_null = -1;
  for (int i = 0; i < 3 && err == 0; i++) {
    int fd = spec.stdio[i];
    if (fd == kDevNull) {
      if (dev_null < 0) dev_null = OpenDevNull();
      if (dev_null < 0) err = -errno;
      fd = dev_null;
    } else if (fd >= 0 && fd < 3) {
      temps[i] = fcntl(fd, F_DUPFD_CLOEXEC, 3);
      if (temps[i] < 0) err = -errno;
      fd = temps[i];
    } else if (fd >= 0 && fcntl(fd, F_GETFD) < 0) {
      err = -errno;  // EBADF here, with a clear syscall, rather than from inside posix_spawn
    }
    child_fds[i] = fd;
  }
  if (err == 0) {
    result->syscall = "execve";
    err = SpawnResolved(spec, path.c_str(), child_fds, &result->pid);
  } else {
    result->syscall = "fcntl";
  }
  for (int fd : temps) {
    if (fd >= 0) close(fd);
  }
  if (dev_null >= 0) close(dev_null);
  if (err != 0) return err;
#if defined(__linux__)
  if (spec.want_pidfd) {
    // The child is not reaped yet, so its pid cannot have been reused: the pidfd is its own.
    const long fd = syscall(SYS_pidfd_open, result->pid, 0);  // always O_CLOEXEC
    result->pidfd = fd >= 0 ? static_cast<int>(fd) : -1;
  }
#endif
  return 0;
}

int Reap(pid_t pid, int pidfd, int* returncode) {
  siginfo_t info;
  int r;
  for (;;) {
    memset(&info, 0, sizeof info);
#if defined(__linux__)
    if (pidfd >= 0) {
      r = waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED | WNOHANG);
      // P_PIDFD is Linux 5.4, pidfd_open 5.3: on 5.3 the pid is still ours to wait for.
      if (r != 0 && errno == EINVAL) r = waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG);
    } else {
      r = waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG);
    }
#else
    (void)pidfd;
    r = waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG);
#endif
    if (r == 0 || errno != EINTR) break;
  }
  if (r != 0) return -errno;
  if (info.si_pid == 0) return 0;  // still running
  *returncode = info.si_code == CLD_EXITED ? info.si_status : -info.si_status;
  return 1;
}

int SendSignal(pid_t pid, int pidfd, int sig) {
#if defined(__linux__)
  if (pidfd >= 0) {
    if (syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) == 0) return 0;
    if (errno != ENOSYS) return -errno;
  }
#else
  (void)pidfd;
#endif
  return kill(pid, sig) == 0 ? 0 : -errno;
}

}  // namespace spawn
}  // namespace muxloop
