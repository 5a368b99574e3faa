#ifndef NONCE_CA_H
#define NONCE_CA_H
#include <node_api.h>

/* Adds nonceCaAttach, nonceCaDetach, nonceCaStats, nonceCaName and caListProbe to exports (nonce_ca.c). */
void nonce_ca_init(napi_env env, napi_value exports);

#endif
