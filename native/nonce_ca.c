/*
 * Per-connection acceptable-CA list for the aTLS server nonce (atls.md §5.2),
 * without a per-ClientHello SecureContext.
 *
 * Node creates the listener's SSL_CTX inside tls.createServer(); as in
 * cert_list_limit.c an SSL_CTX ex_data "new" callback, armed only during one
 * synchronous JS call (nonceCaAttach), reaches exactly the contexts created by
 * that call. On them we register an OpenSSL ClientHello callback
 * (SSL_CTX_set_client_hello_cb; Node itself never sets one). Per ClientHello
 * it:
 *   1. reads the SNI from the raw server_name extension (OpenSSL parses SNI only
 *      after this callback; the parser below accepts exactly what OpenSSL's
 *      tls_parse_ctos_server_name accepts, so the string equals the later
 *      socket.servername);
 *   2. draws the 32-byte server nonce (RAND_bytes), base64-encodes it into the
 *      DER Name template passed once from JS (CN=<44 characters>) and parses
 *      that into an X509_NAME;
 *   3. calls the JS function given to nonceCaAttach synchronously with the SNI
 *      (latin1 string, as Node's own servername) and the nonce as the base64
 *      text of the CN (a string is much cheaper to hand over than a Buffer).
 *      It answers `true` (it stored the nonce under the SNI) or a rejection
 *      code (a string);
 *   4. on `true`: makes the name the only entry of this SSL's client CA list
 *      (SSL_set_client_CA_list: OpenSSL's get_ca_names() prefers the SSL's
 *      client CA list on a server, for both the TLS 1.3 certificate_authorities
 *      extension of the CertificateRequest and the TLS 1.2 CertificateRequest
 *      CA list);
 *   5. on a rejection: fails the handshake with alert internal_error (as Go's
 *      server does for a non-base64 SNI) and puts "atls-rejected:<code>" into
 *      the OpenSSL error data, which Node copies into the message of the
 *      tlsClientError, so JS can tell why without any shared state.
 * Without SNI (or with an empty one) nothing is set and JS is not called, as
 * Node does not call SNICallback then either; the precheck rejects those
 * connections after the handshake.
 *
 * A TLS 1.3 HelloRetryRequest makes OpenSSL run the ClientHello callback again
 * for the second ClientHello of the same SSL; an SSL ex_data mark makes that a
 * no-op (the list set for the first one stays), so one connection issues one
 * nonce.
 *
 * Calling JS from inside OpenSSL: this runs on the thread that owns the
 * listener (its SSL objects are only driven by that thread's TLSWrap), inside
 * SSL_read/SSL_do_handshake, like Node's own SNI/OCSP/PSK callbacks which call
 * into JS from the same place. We open a handle scope, call the function with
 * napi_call_function (which does not drain the microtask or nextTick queues)
 * and clear any exception; the JS side must not touch the TLS socket.
 *
 * Lifetime: one `nonce_ca` per attach, reference-counted by the JS handle and
 * by every SSL_CTX it was attached to (released by the ex_data "free"
 * callback in SSL_CTX_free). nonceCaDetach() (server close) deactivates it and
 * drops the JS function: later ClientHellos on the old context fail closed.
 *
 * caListProbe attaches a client certificate callback to client contexts
 * instead; it reports the CA names the server sent (client side of the
 * CertificateRequest) to JS and sends no certificate. Used by the start-up
 * self-test and the tests to check what actually goes over the wire.
 */
#include <node_api.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nonce_ca.h"

#define NONCE_LEN 32
#define NONCE_B64_LEN 44
#define MAX_DN_LEN 128
#define MAX_CODE_LEN 64

enum { KIND_SERVER = 1, KIND_PROBE = 2 };

typedef struct nonce_ca {
  int kind;
  napi_env env;
  napi_ref callback; /* NULL once detached */
  atomic_int refs;
  unsigned char dn[MAX_DN_LEN];
  size_t dn_len;
  size_t cn_off;
  /* Counters; written only by the owning thread. */
  uint64_t client_hellos, issued, rejected, no_sni, retried, failed, nanos, js_nanos;
} nonce_ca;

static int ctx_index = -1;
static int ssl_index = -1;
static pthread_once_t index_once = PTHREAD_ONCE_INIT;
static _Thread_local nonce_ca *armed = NULL;
static _Thread_local long armed_contexts = 0;

static void nonce_ca_unref(nonce_ca *st) {
  if (atomic_fetch_sub(&st->refs, 1) == 1) free(st);
}

static int on_client_hello(SSL *ssl, int *al, void *arg);
static int on_client_cert(SSL *ssl, X509 **x509, EVP_PKEY **pkey);

static void on_new_ctx(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp) {
  (void)ptr; (void)argl; (void)argp;
  nonce_ca *st = armed;
  if (st == NULL || parent == NULL) return;
  if (!CRYPTO_set_ex_data(ad, idx, st)) return;
  atomic_fetch_add(&st->refs, 1);
  if (st->kind == KIND_SERVER)
    SSL_CTX_set_client_hello_cb((SSL_CTX *)parent, on_client_hello, st);
  else
    SSL_CTX_set_client_cert_cb((SSL_CTX *)parent, on_client_cert);
  armed_contexts++;
}

static void on_free_ctx(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp) {
  (void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
  if (ptr != NULL) nonce_ca_unref((nonce_ca *)ptr);
}

static void make_indexes(void) {
  ctx_index = CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL_CTX, 0, NULL, on_new_ctx, NULL, on_free_ctx);
  ssl_index = CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL, 0, NULL, NULL, NULL, NULL);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * The host_name of a server_name extension body, with OpenSSL's rules: one
 * ServerNameList that fills the extension, non-empty, whose first entry is a
 * host_name that fills the rest; at most 255 bytes and no NUL. Returns 0 for
 * anything OpenSSL would refuse (it then fails the handshake itself).
 */
static int parse_sni(const unsigned char *p, size_t len, const unsigned char **name, size_t *name_len) {
  if (len < 2) return 0;
  size_t list_len = ((size_t)p[0] << 8) | p[1];
  if (list_len != len - 2 || list_len == 0) return 0;
  p += 2;
  if (p[0] != TLSEXT_NAMETYPE_host_name || list_len < 3) return 0;
  size_t n = ((size_t)p[1] << 8) | p[2];
  if (n != list_len - 3 || n > TLSEXT_MAXLEN_host_name) return 0;
  if (n > 0 && memchr(p + 3, 0, n) != NULL) return 0;
  *name = p + 3;
  *name_len = n;
  return 1;
}

/*
 * X509_NAME for CN=base64(nonce) from the template: exactly the template's
 * bytes with the CN filled in; the base64 text (standard alphabet, padded, the
 * form JS gets) goes to b64.
 */
static X509_NAME *nonce_name(const nonce_ca *st, const unsigned char nonce[NONCE_LEN], unsigned char b64[NONCE_B64_LEN + 1]) {
  unsigned char dn[MAX_DN_LEN];
  if (EVP_EncodeBlock(b64, nonce, NONCE_LEN) != NONCE_B64_LEN) return NULL;
  memcpy(dn, st->dn, st->dn_len);
  memcpy(dn + st->cn_off, b64, NONCE_B64_LEN);
  const unsigned char *p = dn;
  X509_NAME *name = d2i_X509_NAME(NULL, &p, (long)st->dn_len);
  if (name != NULL && p != dn + st->dn_len) {
    X509_NAME_free(name);
    return NULL;
  }
  return name;
}

/* Fails the handshake with "atls-rejected:<code>" in the error data (Node puts it into err.message). */
static int reject(SSL *ssl, int *al, const char *code) {
  (void)ssl;
  ERR_new();
  ERR_set_debug("nonce_ca.c", __LINE__, "on_client_hello");
  ERR_set_error(ERR_LIB_SSL, SSL_R_CALLBACK_FAILED, "atls-rejected:%s", code);
  *al = SSL_AD_INTERNAL_ERROR;
  return SSL_CLIENT_HELLO_ERROR;
}

enum { JS_ACCEPT = 1, JS_REJECT = 2, JS_FAILED = 3 };

/*
 * Calls the JS function with (SNI, base64 nonce): `true` → JS_ACCEPT (it
 * stored the nonce under the SNI), a code string → JS_REJECT (into code).
 */
static int call_js(nonce_ca *st, const unsigned char *sni, size_t sni_len, const unsigned char b64[NONCE_B64_LEN],
                   char code[MAX_CODE_LEN + 1]) {
  napi_env env = st->env;
  napi_handle_scope scope;
  if (st->callback == NULL || napi_open_handle_scope(env, &scope) != napi_ok) return JS_FAILED;
  int out = JS_FAILED;
  napi_value fn, recv, argv[2], res;
  if (napi_get_reference_value(env, st->callback, &fn) == napi_ok && fn != NULL && napi_get_undefined(env, &recv) == napi_ok &&
      napi_create_string_latin1(env, (const char *)sni, sni_len, &argv[0]) == napi_ok &&
      napi_create_string_latin1(env, (const char *)b64, NONCE_B64_LEN, &argv[1]) == napi_ok) {
    napi_status s = napi_call_function(env, recv, fn, 2, argv, &res);
    if (s == napi_ok) {
      napi_valuetype t;
      bool accepted = false;
      size_t n;
      if (napi_typeof(env, res, &t) != napi_ok) {
        /* JS_FAILED */
      } else if (t == napi_boolean && napi_get_value_bool(env, res, &accepted) == napi_ok && accepted) {
        out = JS_ACCEPT;
      } else if (t == napi_string && napi_get_value_string_latin1(env, res, code, MAX_CODE_LEN + 1, &n) == napi_ok && n > 0) {
        out = JS_REJECT;
        for (size_t i = 0; i < n; i++) {
          char c = code[i];
          if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) out = JS_FAILED;
        }
      }
    }
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      out = JS_FAILED;
    }
  }
  napi_close_handle_scope(env, scope);
  return out;
}

static int client_hello_body(nonce_ca *st, SSL *ssl, int *al) {
  st->client_hellos++;
  if (ssl_index < 0) return reject(ssl, al, "ATLS_HANDSHAKE_FAILED");
  if (SSL_get_ex_data(ssl, ssl_index) != NULL) {
    /* Second ClientHello after a HelloRetryRequest: the list of the first stays. */
    st->retried++;
    return SSL_CLIENT_HELLO_SUCCESS;
  }
  const unsigned char *ext, *sni;
  size_t ext_len, sni_len;
  if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &ext_len) || !parse_sni(ext, ext_len, &sni, &sni_len) ||
      sni_len == 0) {
    st->no_sni++;
    return SSL_CLIENT_HELLO_SUCCESS;
  }
  /*
   * Everything that can fail happens before JS stores the nonce: the mark, the
   * nonce, the name and the list. After JS accepted, only infallible steps remain.
   */
  unsigned char nonce[NONCE_LEN], b64[NONCE_B64_LEN + 1];
  char code[MAX_CODE_LEN + 1];
  X509_NAME *name = NULL;
  STACK_OF(X509_NAME) *list = NULL;
  int r;
  if (!SSL_set_ex_data(ssl, ssl_index, st) || RAND_bytes(nonce, NONCE_LEN) != 1 || (name = nonce_name(st, nonce, b64)) == NULL ||
      (list = sk_X509_NAME_new_reserve(NULL, 1)) == NULL || !sk_X509_NAME_push(list, name)) {
    r = JS_FAILED;
  } else {
    name = NULL; /* owned by list */
    uint64_t t0 = now_ns();
    r = call_js(st, sni, sni_len, b64, code);
    st->js_nanos += now_ns() - t0;
  }
  if (r == JS_ACCEPT) {
    SSL_set_client_CA_list(ssl, list); /* takes ownership */
    st->issued++;
    return SSL_CLIENT_HELLO_SUCCESS;
  }
  X509_NAME_free(name);
  sk_X509_NAME_pop_free(list, X509_NAME_free);
  if (r == JS_REJECT) {
    st->rejected++;
    return reject(ssl, al, code);
  }
  st->failed++;
  return reject(ssl, al, "ATLS_HANDSHAKE_FAILED");
}

static int on_client_hello(SSL *ssl, int *al, void *arg) {
  nonce_ca *st = (nonce_ca *)arg;
  uint64_t t0 = now_ns();
  int r = client_hello_body(st, ssl, al);
  st->nanos += now_ns() - t0;
  return r;
}

static int on_client_cert(SSL *ssl, X509 **x509, EVP_PKEY **pkey) {
  (void)x509; (void)pkey;
  nonce_ca *st = (nonce_ca *)SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_index);
  if (st == NULL || st->callback == NULL) return 0;
  STACK_OF(X509_NAME) *names = SSL_get_client_CA_list(ssl);
  napi_env env = st->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return 0;
  int n = names == NULL ? 0 : sk_X509_NAME_num(names);
  napi_value arr, fn, recv, res;
  if (napi_create_array_with_length(env, (size_t)n, &arr) == napi_ok) {
    for (int i = 0; i < n; i++) {
      unsigned char *der = NULL;
      int len = i2d_X509_NAME(sk_X509_NAME_value(names, i), &der);
      napi_value buf;
      if (len > 0 && napi_create_buffer_copy(env, (size_t)len, der, NULL, &buf) == napi_ok) napi_set_element(env, arr, (uint32_t)i, buf);
      OPENSSL_free(der);
    }
    if (napi_get_reference_value(env, st->callback, &fn) == napi_ok && fn != NULL && napi_get_undefined(env, &recv) == napi_ok)
      napi_call_function(env, recv, fn, 1, &arr, &res);
  }
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
  }
  napi_close_handle_scope(env, scope);
  return 0; /* no client certificate */
}

/* ---- JS API ---- */

static napi_value throw_error(napi_env env, const char *msg) {
  napi_throw_error(env, "ERR_NONCE_CA", msg);
  return NULL;
}

static void finalize_handle(napi_env env, void *data, void *hint) {
  (void)hint;
  nonce_ca *st = (nonce_ca *)data;
  if (st->callback != NULL) {
    napi_delete_reference(env, st->callback);
    st->callback = NULL;
  }
  nonce_ca_unref(st);
}

static nonce_ca *get_handle(napi_env env, napi_value v) {
  void *data = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &data) != napi_ok) return NULL;
  return (nonce_ca *)data;
}

static int read_template(napi_env env, napi_value buf, napi_value off, nonce_ca *st) {
  bool is_buffer = false;
  void *data;
  size_t len;
  int64_t cn_off;
  if (napi_is_buffer(env, buf, &is_buffer) != napi_ok || !is_buffer || napi_get_buffer_info(env, buf, &data, &len) != napi_ok ||
      len > MAX_DN_LEN || napi_get_value_int64(env, off, &cn_off) != napi_ok || cn_off < 0 || (size_t)cn_off + NONCE_B64_LEN > len)
    return 0;
  memcpy(st->dn, data, len);
  st->dn_len = len;
  st->cn_off = (size_t)cn_off;
  /* The template must parse as a Name with any nonce in place. */
  unsigned char zero[NONCE_LEN] = {0}, b64[NONCE_B64_LEN + 1];
  X509_NAME *n = nonce_name(st, zero, b64);
  if (n == NULL) return 0;
  X509_NAME_free(n);
  return 1;
}

/* Runs create() with `st` armed; returns { result, contexts, handle }. */
static napi_value attach_during(napi_env env, nonce_ca *st, napi_value callback, napi_value create) {
  napi_valuetype t;
  if (napi_typeof(env, callback, &t) != napi_ok || t != napi_function) {
    free(st);
    return throw_error(env, "callback must be a function");
  }
  if (napi_typeof(env, create, &t) != napi_ok || t != napi_function) {
    free(st);
    return throw_error(env, "create must be a function");
  }
  pthread_once(&index_once, make_indexes);
  if (ctx_index < 0 || ssl_index < 0) {
    free(st);
    return throw_error(env, "CRYPTO_get_ex_new_index failed");
  }
  if (armed != NULL) {
    free(st);
    return throw_error(env, "nonce CA attach is not re-entrant");
  }
  st->env = env;
  atomic_init(&st->refs, 1); /* the JS handle */
  napi_value handle;
  if (napi_create_reference(env, callback, 1, &st->callback) != napi_ok) {
    free(st);
    return throw_error(env, "napi_create_reference failed");
  }
  if (napi_create_external(env, st, finalize_handle, NULL, &handle) != napi_ok) {
    napi_delete_reference(env, st->callback);
    free(st);
    return throw_error(env, "napi_create_external failed");
  }
  armed = st;
  armed_contexts = 0;
  napi_value global, result = NULL;
  napi_get_global(env, &global);
  napi_status s = napi_call_function(env, global, create, 0, NULL, &result);
  long contexts = armed_contexts;
  armed = NULL;
  armed_contexts = 0;
  if (s != napi_ok) return NULL; /* the JS exception propagates; the handle's finalizer releases st */
  napi_value out, n;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "result", result);
  napi_create_int64(env, contexts, &n);
  napi_set_named_property(env, out, "contexts", n);
  napi_set_named_property(env, out, "handle", handle);
  return out;
}

/* nonceCaAttach(onClientHello, dnTemplate: Buffer, cnOffset: number, create: () => T) */
static napi_value js_attach(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4)
    return throw_error(env, "expected (onClientHello, dnTemplate, cnOffset, create)");
  nonce_ca *st = calloc(1, sizeof *st);
  if (st == NULL) return throw_error(env, "out of memory");
  st->kind = KIND_SERVER;
  if (!read_template(env, argv[1], argv[2], st)) {
    free(st);
    return throw_error(env, "dnTemplate must be a DER Name of at most 128 bytes with a 44-byte CN value at cnOffset");
  }
  return attach_during(env, st, argv[0], argv[3]);
}

/* caListProbe(onCaList: (names: Buffer[]) => void, create: () => T) */
static napi_value js_probe(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2) return throw_error(env, "expected (onCaList, create)");
  nonce_ca *st = calloc(1, sizeof *st);
  if (st == NULL) return throw_error(env, "out of memory");
  st->kind = KIND_PROBE;
  return attach_during(env, st, argv[0], argv[1]);
}

/* nonceCaDetach(handle): later ClientHellos on its contexts fail closed. */
static napi_value js_detach(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  nonce_ca *st = argc == 1 ? get_handle(env, argv[0]) : NULL;
  if (st == NULL) return throw_error(env, "expected a nonce CA handle");
  if (st->callback != NULL) {
    napi_delete_reference(env, st->callback);
    st->callback = NULL;
  }
  return NULL;
}

static void set_u64(napi_env env, napi_value obj, const char *key, uint64_t v) {
  napi_value n;
  napi_create_double(env, (double)v, &n);
  napi_set_named_property(env, obj, key, n);
}

/* nonceCaStats(handle) */
static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  nonce_ca *st = argc == 1 ? get_handle(env, argv[0]) : NULL;
  if (st == NULL) return throw_error(env, "expected a nonce CA handle");
  napi_value out;
  napi_create_object(env, &out);
  set_u64(env, out, "clientHellos", st->client_hellos);
  set_u64(env, out, "issued", st->issued);
  set_u64(env, out, "rejected", st->rejected);
  set_u64(env, out, "noSni", st->no_sni);
  set_u64(env, out, "retried", st->retried);
  set_u64(env, out, "failed", st->failed);
  set_u64(env, out, "nanos", st->nanos);
  set_u64(env, out, "jsNanos", st->js_nanos);
  return out;
}

/* nonceCaName(dnTemplate, cnOffset, nonce): DER of the X509_NAME a ClientHello with this nonce gets (i2d of what OpenSSL sends). */
static napi_value js_name(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3) return throw_error(env, "expected (dnTemplate, cnOffset, nonce)");
  nonce_ca st;
  memset(&st, 0, sizeof st);
  if (!read_template(env, argv[0], argv[1], &st)) return throw_error(env, "bad dnTemplate");
  bool is_buffer = false;
  void *data;
  size_t len;
  if (napi_is_buffer(env, argv[2], &is_buffer) != napi_ok || !is_buffer || napi_get_buffer_info(env, argv[2], &data, &len) != napi_ok ||
      len != NONCE_LEN)
    return throw_error(env, "nonce must be a 32-byte Buffer");
  unsigned char b64[NONCE_B64_LEN + 1];
  X509_NAME *name = nonce_name(&st, (const unsigned char *)data, b64);
  if (name == NULL) return throw_error(env, "building the name failed");
  unsigned char *der = NULL;
  int n = i2d_X509_NAME(name, &der);
  X509_NAME_free(name);
  if (n <= 0) return throw_error(env, "i2d_X509_NAME failed");
  napi_value out;
  napi_status s = napi_create_buffer_copy(env, (size_t)n, der, NULL, &out);
  OPENSSL_free(der);
  return s == napi_ok ? out : throw_error(env, "napi_create_buffer_copy failed");
}

static void export_fn(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn);
  napi_set_named_property(env, exports, name, fn);
}

void nonce_ca_init(napi_env env, napi_value exports) {
  export_fn(env, exports, "nonceCaAttach", js_attach);
  export_fn(env, exports, "nonceCaDetach", js_detach);
  export_fn(env, exports, "nonceCaStats", js_stats);
  export_fn(env, exports, "nonceCaName", js_name);
  export_fn(env, exports, "caListProbe", js_probe);
}
