{
  "targets": [
    {
      "target_name": "cert_list_limit",
      "sources": ["cert_list_limit.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
