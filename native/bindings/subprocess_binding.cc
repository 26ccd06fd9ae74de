// JS surface of syscalls/spawn.h: argument checks and conversion only. Every string is refused if
// it holds a NUL byte (it would silently cut the argument short in C).
#include <cerrno>
#include <string>
#include <vector>

#include "bindings/addon.h"
#include "bindings/binding_util.h"
#include "syscalls/fd.h"
#include "syscalls/spawn.h"

namespace muxloop {
namespace {

std::string ToCString(const Napi::Value& value, const std::string& name) {
  Napi::Env env = value.Env();
  if (!value.IsString()) {
    throw TypeErrorWithCode(env, "ERR_INVALID_ARG_TYPE", "The \"" + name + "\" argument must be of type string");
  }
  std::string s = value.As<Napi::String>().Utf8Value();
  if (s.find('\0') != std::string::npos) {
    throw TypeErrorWithCode(env, "ERR_INVALID_ARG_VALUE",
                            "The \"" + name + "\" argument must be a string without null bytes");
  }
  return s;
}

std::vector<std::string> ToStringList(const Napi::Value& value, const char* name) {
  Napi::Env env = value.Env();
  if (!value.IsArray()) {
    throw TypeErrorWithCode(env, "ERR_INVALID_ARG_TYPE", std::string("The \"") + name + "\" argument must be an Array");
  }
  Napi::Array array = value.As<Napi::Array>();
  std::vector<std::string> out;
  const uint32_t n = array.Length();
  out.reserve(n);
  for (uint32_t i = 0; i < n; i++) out.push_back(ToCString(array.Get(i), std::string(name) + "[" + std::to_string(i) + "]"));
  return out;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) out.push_back(&s[0]);
  out.push_back(nullptr);
  return out;
}

pid_t ToPid(const Napi::Value& value) { return static_cast<pid_t>(ToInteger(value, "pid", 1, 2147483647)); }

int ToPidfd(const Napi::Value& value) {
  return static_cast<int>(ToInteger(value, "pidfd", -1, 2147483647));
}

// spawn(file, argv, env | undefined, cwd | undefined, [stdin, stdout, stderr], wantPidfd)
//   -> [pid, pidfd]; pidfd is -1 without one, else owned by the addon until close/forget.
// stdio entries: -1 inherit, -2 /dev/null, or an fd. A failure throws Error{code, errno, syscall,
// path}: `path` is the program as given, or the cwd when that is what is missing.
Napi::Value SpawnFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string file = ToCString(info[0], "file");
  std::vector<std::string> argv = ToStringList(info[1], "argv");
  if (argv.empty()) throw RangeErrorWithCode(env, "ERR_OUT_OF_RANGE", "argv must hold at least the program name");
  const bool has_env = !info[2].IsUndefined();
  std::vector<std::string> envs;
  if (has_env) envs = ToStringList(info[2], "env");
  const bool has_cwd = !info[3].IsUndefined();
  std::string cwd;
  if (has_cwd) cwd = ToCString(info[3], "cwd");
  if (!info[4].IsArray() || info[4].As<Napi::Array>().Length() != 3) {
    throw TypeErrorWithCode(env, "ERR_INVALID_ARG_TYPE", "The \"stdio\" argument must be an Array of 3 numbers");
  }
  Napi::Array stdio = info[4].As<Napi::Array>();
  spawn::Spec spec{};
  for (uint32_t i = 0; i < 3; i++) {
    spec.stdio[i] = static_cast<int>(ToInteger(stdio.Get(i), "stdio", spawn::kDevNull, 2147483647));
  }
  spec.want_pidfd = ToBool(info[5], "wantPidfd");

  std::vector<char*> argv_ptrs = Pointers(argv);
  std::vector<char*> env_ptrs;
  std::string path_env;
  bool has_path = false;
  if (has_env) {
    env_ptrs = Pointers(envs);
    for (const auto& entry : envs) {
      if (entry.compare(0, 5, "PATH=") == 0) {
        path_env = entry.substr(5);  // the first one, as getenv in the child finds it
        has_path = true;
        break;
      }
    }
  }
  spec.file = file.c_str();
  spec.argv = argv_ptrs.data();
  spec.envp = has_env ? env_ptrs.data() : nullptr;
  spec.path_env = has_path ? path_env.c_str() : nullptr;
  spec.cwd = has_cwd ? cwd.c_str() : nullptr;

  spawn::Result result;
  const int err = spawn::Spawn(spec, &result);
  if (err != 0) {
    const std::string& what = result.bad_cwd ? cwd : file;
    Napi::Error error = ErrnoError(env, err, result.syscall, what);
    error.Set("path", Napi::String::New(env, what));
    throw error;
  }
  if (result.pidfd >= 0) {
    // The child runs now: if the pidfd cannot be owned (F10), hand back its pid alone (reaped by
    // pid, as without pidfd support) rather than an error that would lose the child.
    try {
      AddonData::Get(env)->Own(result.pidfd);
    } catch (const std::bad_alloc&) {
      fd::Close(result.pidfd);
      result.pidfd = -1;
    }
  }
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, result.pid));
  out.Set(1u, Napi::Number::New(env, result.pidfd));
  return out;
}

// reap(pid, pidfd) -> the returncode once the child has exited (it is reaped now), or null while
// it runs. ECHILD and the rest throw.
Napi::Value ReapFn(const Napi::CallbackInfo& info) {
  const pid_t pid = ToPid(info[0]);
  const int pidfd = ToPidfd(info[1]);
  int returncode = 0;
  const int r = spawn::Reap(pid, pidfd, &returncode);
  if (r < 0) throw ErrnoError(info.Env(), r, "waitid", "pid " + std::to_string(pid));
  if (r == 0) return info.Env().Null();
  return Napi::Number::New(info.Env(), returncode);
}

// sendSignal(pid, pidfd, signal)
void SendSignalFn(const Napi::CallbackInfo& info) {
  const pid_t pid = ToPid(info[0]);
  const int pidfd = ToPidfd(info[1]);
  const int sig = static_cast<int>(ToInteger(info[2], "signal", 0, 127));
  const int r = spawn::SendSignal(pid, pidfd, sig);
  if (r < 0) throw ErrnoError(info.Env(), r, pidfd >= 0 ? "pidfd_send_signal" : "kill", "pid " + std::to_string(pid));
}

}  // namespace

void InitSubprocessBinding(Napi::Env env, Napi::Object exports) {
  exports.Set("spawn", NativeFunction<SpawnFn>(env, "spawn"));
  exports.Set("reap", NativeFunction<ReapFn>(env, "reap"));
  exports.Set("sendSignal", NativeFunction<SendSignalFn>(env, "sendSignal"));
}

}  // namespace muxloop
