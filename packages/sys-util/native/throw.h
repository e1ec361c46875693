// One way for the addon's native files to report a failed system call to JavaScript: an Error
// carrying `errno` and `syscall`, which sys-util's rethrow() turns into a typed SysError.
#pragma once

#include <napi.h>

#include <cstring>
#include <string>

namespace kindling {

inline Napi::Value ThrowErrno(Napi::Env env, const char* syscall_name, int err) {
  Napi::Error e = Napi::Error::New(env, std::string(syscall_name) + " failed: " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall_name));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace kindling
