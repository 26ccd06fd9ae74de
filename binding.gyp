{
  "targets": [
    {
      "target_name": "muxloop",
      "sources": [
        "native/addon.cc",
        "native/binding_util.cc",
        "native/selector.cc",
        "native/selector_factory.cc",
        "native/selector_poll.cc",
        "native/selector_select.cc",
        "native/selector_binding.cc",
        "native/fd.cc",
        "native/fd_binding.cc",
        "native/loop_host.cc",
        "native/loop_host_binding.cc",
        "native/socket.cc",
        "native/socket_binding.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
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
        ["OS=='linux'", {
          "sources": ["native/selector_epoll.cc"]
        }],
        ["OS=='mac' or OS=='freebsd' or OS=='openbsd' or OS=='netbsd'", {
          "sources": ["native/selector_kqueue.cc"]
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
