/*
 * libssl_compat.c: a tiny "libssl.so.1.1" for the .NET Core 3.1 runtime that
 * ships inside aspose-ocr-python-net, on systems with only OpenSSL 3.
 *
 * .NET Core 3.1 dlopen()s libssl.so.1.1 and looks up its functions with
 * dlsym().  This library is linked against libssl.so.3 and libcrypto.so.3,
 * so every function that still exists in OpenSSL 3 resolves through those
 * dependencies.  It defines only the three that OpenSSL 3 renamed or turned
 * into macros; without them the runtime aborts (SIGABRT) when it starts its
 * crypto layer at the first AsposeOcr().
 *
 * The prototypes are declared by hand so no OpenSSL headers are needed to
 * build it: the builder (aspose_compat/__init__.py) compiles it with
 *   cc -shared -fPIC -o libssl.so.1.1 libssl_compat.c -l:libssl.so.3 -l:libcrypto.so.3
 */

typedef struct evp_md_st EVP_MD;
typedef struct ssl_st SSL;
typedef struct x509_st X509;

/* OpenSSL 3 functions that replace the removed ones. */
void ERR_new(void);
void ERR_set_debug(const char *file, int line, const char *func);
void ERR_set_error(int lib, int reason, const char *fmt, ...);
int EVP_MD_get_size(const EVP_MD *md);
X509 *SSL_get1_peer_certificate(const SSL *s);

/* OpenSSL 1.1: a function; OpenSSL 3: a macro over the three calls below.
 * The "func" argument has no counterpart any more (it was a numeric code). */
void ERR_put_error(int lib, int func, int reason, const char *file, int line)
{
    (void)func;
    ERR_new();
    ERR_set_debug(file, line, "");
    ERR_set_error(lib, reason, (const char *)0);
}

/* Renamed to EVP_MD_get_size in OpenSSL 3. */
int EVP_MD_size(const EVP_MD *md)
{
    return EVP_MD_get_size(md);
}

/* Renamed to SSL_get1_peer_certificate (same reference semantics: the
 * caller owns one reference to the returned certificate). */
X509 *SSL_get_peer_certificate(const SSL *s)
{
    return SSL_get1_peer_certificate(s);
}
