{
  "targets": [
    {
      "target_name": "reaper",
      "conditions": [
        ["OS=='linux'", {
          "sources": [
            "native/addon/addon.cc",
            "native/addon/spawn.cc",
            "native/addon/signals.cc",
            "native/addon/reap.cc",
            "native/addon/process.cc",
            "native/launcher/launch.c"
          ],
          "include_dirs": ["native"],
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
      "comment": "reaper's launcher (native/launcher/launcher.c), which bin/reaper execs: static, so one file per architecture runs on glibc and musl alike (it uses no NSS)",
      "conditions": [
        ["OS=='linux'", {
          "type": "executable",
          "sources": ["native/launcher/launcher.c", "native/launcher/launch.c"],
          "include_dirs": ["native"],
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
