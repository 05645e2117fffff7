# The TUN addon (src/ctpf_tun.c). Built by build.mjs, which runs node-gyp with --nodedir set
# to the running Node's own headers, so nothing is downloaded.
{
  "targets": [
    {
      "target_name": "ctpf_tun",
      "sources": ["src/ctpf_tun.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11"]
    }
  ]
}
