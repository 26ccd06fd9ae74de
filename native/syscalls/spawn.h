// Starting and reaping child processes (lib/net/subprocess.ts). No N-API; -errno on failure.
//
// Why posix_spawn and not fork+exec: glibc's posix_spawn (2.24 and later) runs the child with
// clone(CLONE_VM | CLONE_VFORK) on a stack of its own, so the cost does not grow with the parent's
// address space (a fork of a Node process copies its page tables: libuv 1.46 on Linux forks), and
// it reports the exec error back as its return value, which is the error pipe a fork+exec design
// would need. posix_spawn_file_actions_addchdir_np (glibc 2.29, macOS 10.15, FreeBSD 13.1) and
// posix_spawn_file_actions_addclosefrom_np (glibc 2.34) are looked up at run time (dlsym, as libuv
// does), so one prebuilt binary runs on older C libraries too.
//
// The program is looked up in PATH here, before spawning (execvp's rules: the PATH of the child's
// environment when one is given, else ours; a hit that is not executable is remembered as EACCES
// while the search goes on), so a missing program costs stat calls, not one failed clone per PATH
// entry, and the error names the step: syscall "spawn" for the lookup, "chdir" for a missing cwd,
// "fcntl" for a bad stdio fd, "execve" for what posix_spawn itself reports.
#ifndef MUXLOOP_SPAWN_H_
#define MUXLOOP_SPAWN_H_

#include <sys/types.h>

namespace muxloop {
namespace spawn {

// What the child gets on fds 0, 1 and 2.
constexpr int kInherit = -1;  // the parent's own fd stays as it is
constexpr int kDevNull = -2;  // /dev/null, opened for reading and writing

struct Spec {
  const char* file;      // the program as given: a path (with a '/') or a name looked up in PATH
  char* const* argv;     // NULL-terminated
  char* const* envp;     // NULL-terminated, or nullptr for the parent's environment
  const char* path_env;  // the PATH to search when envp is given (nullptr: the default path)
  const char* cwd;       // nullptr: the parent's
  int stdio[3];          // kInherit, kDevNull, or an fd of the parent to dup2 onto 0, 1, 2
  bool want_pidfd;       // open a pidfd for the child (Linux 5.3+)
};

struct Result {
  pid_t pid = -1;
  int pidfd = -1;                 // -1 without pidfd (not asked, or ENOSYS)
  const char* syscall = "spawn";  // the step that failed
  bool bad_cwd = false;           // the failure is about spec.cwd, not the program
};

// Starts the child. 0 with result->pid (and pidfd), or -errno with result->syscall set.
int Spawn(const Spec& spec, Result* result);

// The child's state without blocking: 1 and *returncode when it has exited and is now reaped
// (exit status, or minus the signal number, as Python's returncode), 0 while it runs, -errno
// (-ECHILD: not our child, or reaped by someone else). With pidfd >= 0, waitid(P_PIDFD); else
// waitid(P_PID): never a wait for any child, so Node's own children are left to libuv.
int Reap(pid_t pid, int pidfd, int* returncode);

// pidfd_send_signal when pidfd >= 0 (no pid reuse race), else kill(pid).
int SendSignal(pid_t pid, int pidfd, int sig);

}  // namespace spawn
}  // namespace muxloop

#endif  // MUXLOOP_SPAWN_H_
