#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/sha.h>

/* SHA-512 without EVP: EVP's first use in a process loads openssl.cnf (1-2 ms of `rkt run`, whose
   only digest is its tree ID). The low-level calls are deprecated in OpenSSL 3 but still shipped. */
static inline int rkt_sha512(const void *data, size_t length, unsigned char *digest) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    SHA512_CTX context;
    if (SHA512_Init(&context) != 1 || SHA512_Update(&context, data, length) != 1) return 0;
    return SHA512_Final(digest, &context);
#pragma GCC diagnostic pop
}
