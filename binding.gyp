{
  "variables": {"muxloop_system_openssl%": "false"},
  "targets": [
    {
      "target_name": "muxloop",
      "sources": [
        "native/backends/selector.cc",
        "native/backends/selector_factory.cc",
        "native/backends/selector_poll.cc",
        "native/backends/selector_select.cc",
        "native/bindings/addon.cc",
        "native/bindings/arg_check.cc",
        "native/bindings/binding_util.cc",
        "native/bindings/fd_binding.cc",
        "native/bindings/loop_host_binding.cc",
        "native/bindings/selector_binding.cc",
        "native/bindings/socket_binding.cc",
        "native/host/loop_host.cc",
        "native/syscalls/fd.cc",
        "native/syscalls/socket.cc",
        "native/syscalls/spawn.cc",
        "native/bindings/subprocess_binding.cc",
        "native/tls/engine.cc",
        "native/bindings/tls_binding.cc"
      ],
      "include_dirs": ["native", "<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_CPP_EXCEPTIONS",
        "NODE_ADDON_API_CPP_EXCEPTIONS_ALL",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"
      ],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra"],
      "conditions": [
        # OpenSSL is Node's own: with the bundled copy its headers are in Node's include dir
        # (include/node/openssl) and the node binary exports the symbols; a Node built with
        # --shared-openssl is linked to the system libssl, so the addon links to it too.
        # -Dmuxloop_system_openssl=true forces that link for scripts/shared-openssl.sh, which
        # checks the route on a Node that bundles OpenSSL (see there for what it can show).
        ["node_shared_openssl=='true' or muxloop_system_openssl=='true'", {
          "libraries": ["-lssl", "-lcrypto"]
        }],
        ["OS=='linux'", {
          "sources": [
            "native/backends/selector_epoll.cc",
            "native/backends/selector_uring.cc",
            "native/uring/ring.cc",
            "native/uring/completion.cc",
            "native/bindings/uring_binding.cc"
          ]
        }],
        ["OS=='mac' or OS=='freebsd' or OS=='openbsd' or OS=='netbsd'", {
          "sources": ["native/backends/selector_kqueue.cc"]
        }],
        ["OS=='mac'", {
          "xcode_settings": {
            "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "MACOSX_DEPLOYMENT_TARGET": "11.0",
            "OTHER_CPLUSPLUSFLAGS": ["-Wall", "-Wextra"]
          }
        }]
      ]
    }
  ]
}
