/*
 * Raises OpenSSL's per-connection limit on the size of the peer's certificate
 * list (SSL_CTX_set_max_cert_list, default 100 KiB) for the SSL_CTXs that Node
 * creates while JavaScript runs inside withCertListLimit(limit, fn).
 *
 * Node exposes neither the option nor the SSL_CTX pointer. OpenSSL, however,
 * calls the "new" callback of every registered SSL_CTX ex_data index from
 * inside SSL_CTX_new, with the new SSL_CTX as `parent`, after the default
 * limit has been set. Registering one index and arming the callback only for
 * the duration of a synchronous JS call gives us exactly the contexts created
 * by that call (tls.createServer / tls.createSecureContext), and nothing else
 * in the process. Node exports its bundled OpenSSL's symbols to addons.
 */
#include <node_api.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "nonce_ca.h"

static int ex_index = -1;
/* Per thread: only contexts created by the arming thread are touched. */
static _Thread_local long armed_limit = 0;
static _Thread_local long applied_count = 0;

static void on_new_ssl_ctx(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                           long argl, void *argp) {
  (void)ptr; (void)ad; (void)idx; (void)argl; (void)argp;
  if (armed_limit > 0 && parent != NULL) {
    SSL_CTX_set_max_cert_list((SSL_CTX *)parent, armed_limit);
    applied_count++;
  }
}

static napi_value throw_error(napi_env env, const char *msg) {
  napi_throw_error(env, "ERR_CERT_LIST_LIMIT", msg);
  return NULL;
}

/* withCertListLimit(limit: number, fn: () => T): { result: T, contexts: number } */
static napi_value with_cert_list_limit(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2)
    return throw_error(env, "expected (limit, fn)");
  int64_t limit = 0;
  if (napi_get_value_int64(env, argv[0], &limit) != napi_ok || limit < 1024 || limit > (64 << 20))
    return throw_error(env, "limit must be an integer between 1024 and 64 MiB");
  napi_valuetype t;
  if (napi_typeof(env, argv[1], &t) != napi_ok || t != napi_function)
    return throw_error(env, "fn must be a function");
  if (ex_index < 0) {
    ex_index = CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL_CTX, 0, NULL, on_new_ssl_ctx, NULL, NULL);
    if (ex_index < 0) return throw_error(env, "CRYPTO_get_ex_new_index failed");
  }
  if (armed_limit != 0) return throw_error(env, "withCertListLimit is not re-entrant");
  armed_limit = (long)limit;
  applied_count = 0;
  napi_value global, result = NULL;
  napi_get_global(env, &global);
  napi_status st = napi_call_function(env, global, argv[1], 0, NULL, &result);
  long applied = applied_count;
  armed_limit = 0;
  applied_count = 0;
  if (st != napi_ok) return NULL; /* the JS exception propagates */
  napi_value out, n;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "result", result);
  napi_create_int64(env, applied, &n);
  napi_set_named_property(env, out, "contexts", n);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "withCertListLimit", NAPI_AUTO_LENGTH, with_cert_list_limit, NULL, &fn);
  napi_set_named_property(env, exports, "withCertListLimit", fn);
  nonce_ca_init(env, exports);
  return exports;
}
