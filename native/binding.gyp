{
  "targets": [
    {
      "target_name": "cert_list_limit",
      "sources": ["cert_list_limit.c", "nonce_ca.c"],
      "cflags": ["-Wall", "-Wextra", "-O2", "-std=gnu11"]
    }
  ]
}
