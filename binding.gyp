{
  "targets": [
    {
      "target_name": "reaper",
      "conditions": [
        ["OS=='linux'", {
          "sources": [
            "native/addon.cc",
            "native/spawn.cc",
            "native/signals.cc",
            "native/reap.cc",
            "native/process.cc",
            "native/launch.c"
          ],
          "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
          "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "_GNU_SOURCE", "_FORTIFY_SOURCE=2"],
          "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Werror", "-O2", "-fvisibility=hidden", "-fstack-protector-strong"],
          "cflags_c": ["-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-fvisibility=hidden", "-fstack-protector-strong"],
          "ldflags": ["-Wl,-z,relro,-z,now"]
        }, {
          "type": "none"
        }]
      ]
    },
    {
      "target_name": "reaper-launcher",
      "comment": "reaper's launcher (native/launcher.c), which bin/reaper execs: static, so one file per architecture runs on glibc and musl alike (it uses no NSS)",
      "conditions": [
        ["OS=='linux'", {
          "type": "executable",
          "sources": ["native/launcher.c", "native/launch.c"],
          "defines": ["_GNU_SOURCE", "_FORTIFY_SOURCE=2"],
          "cflags_c": ["-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-fstack-protector-strong"],
          "ldflags": ["-static", "-Wl,-z,relro,-z,now"]
        }, {
          "type": "none"
        }]
      ]
    }
  ]
}
