// Test credentials through OpenSSL's C API. Everything a user passes (the
// output directory, the hosts) reaches the certificates as data, never
// through a shell or a config string: SANs are built as GENERAL_NAMEs.
#include "loom/fl/certs.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "loom/core/atomic_file.h"
#include "loom/core/error.h"

namespace loom::fl {

namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

[[noreturn]] void fail(const std::string& what) {
  const unsigned long code = ERR_get_error();
  char reason[256] = "unknown error";
  if (code) ERR_error_string_n(code, reason, sizeof reason);
  throw Error("fl certs: " + what + ": " + reason);
}

void check(int ok, const std::string& what) {
  if (ok != 1) fail(what);
}

Key new_key() {
  Key key(EVP_EC_gen("P-256"));
  if (!key) fail("cannot generate a P-256 key");
  return key;
}

bool is_ip(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

bool is_dns_name(const std::string& host) {
  if (host.empty() || host.size() > 253) return false;
  const size_t start = host.rfind("*.", 0) == 0 ? 2 : 0;
  if (start == host.size()) return false;
  for (size_t i = start; i < host.size(); ++i) {
    const char c = host[i];
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.')) return false;
  }
  return host[start] != '.' && host[start] != '-' && host.find("..") == std::string::npos;
}

void add_extension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value);
  if (!ext) fail(std::string("cannot build extension ") + OBJ_nid2sn(nid));
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  check(ok, std::string("cannot add extension ") + OBJ_nid2sn(nid));
}

void add_subject_alt_names(X509* cert, const std::vector<std::string>& hosts) {
  GENERAL_NAMES* names = sk_GENERAL_NAME_new_null();
  if (!names) fail("out of memory");
  for (const auto& host : hosts) {
    GENERAL_NAME* name = nullptr;
    if (is_ip(host)) {
      ASN1_OCTET_STRING* ip = a2i_IPADDRESS(host.c_str());
      if (!ip) fail("cannot encode IP address " + host);
      name = GENERAL_NAME_new();
      GENERAL_NAME_set0_value(name, GEN_IPADD, ip);
    } else {
      ASN1_IA5STRING* dns = ASN1_IA5STRING_new();
      if (!dns || ASN1_STRING_set(dns, host.data(), static_cast<int>(host.size())) != 1) fail("cannot encode " + host);
      name = GENERAL_NAME_new();
      GENERAL_NAME_set0_value(name, GEN_DNS, dns);
    }
    sk_GENERAL_NAME_push(names, name);
  }
  const int ok = X509_add1_ext_i2d(cert, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT);
  GENERAL_NAMES_free(names);
  check(ok, "cannot add subjectAltName");
}

enum class Role { Ca, Server, Client };

// A certificate for `key` named `common_name`, signed by (issuer, issuer_key),
// or self-signed when issuer is null.
Cert make_certificate(EVP_PKEY* key, const std::string& common_name, Role role, X509* issuer, EVP_PKEY* issuer_key,
                      const std::vector<std::string>& hosts = {}) {
  Cert cert(X509_new());
  if (!cert) fail("out of memory");
  check(X509_set_version(cert.get(), 2), "cannot set the version");
  unsigned char serial_bytes[16];
  check(RAND_bytes(serial_bytes, sizeof serial_bytes), "no randomness for the serial number");
  serial_bytes[0] &= 0x7F;  // positive
  BIGNUM* serial = BN_bin2bn(serial_bytes, sizeof serial_bytes, nullptr);
  if (!serial || !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert.get()))) fail("cannot set the serial number");
  BN_free(serial);
  if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) ||
      !X509_gmtime_adj(X509_getm_notAfter(cert.get()), 365L * 24 * 3600))
    fail("cannot set the validity");
  X509_NAME* name = X509_get_subject_name(cert.get());
  check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0),
        "cannot set the common name");
  check(X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name), "cannot set the issuer");
  check(X509_set_pubkey(cert.get(), key), "cannot set the public key");
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
  add_extension(cert.get(), &ctx, NID_subject_key_identifier, "hash");
  if (role == Role::Ca) {
    add_extension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_extension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always");
    add_extension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    add_extension(cert.get(), &ctx, NID_ext_key_usage, role == Role::Server ? "serverAuth" : "clientAuth");
    if (role == Role::Server) add_subject_alt_names(cert.get(), hosts);
  }
  if (X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256()) <= 0) fail("cannot sign " + common_name);
  return cert;
}

template <typename Write>
std::string pem(Write write) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get()) != 1) fail("cannot write PEM");
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

void write_key(const std::string& path, EVP_PKEY* key) {
  write_file_atomic(
      path, pem([key](BIO* b) { return PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr); }),
      kPrivateFileMode);
}

void write_cert(const std::string& path, X509* cert) {
  write_file_atomic(path, pem([cert](BIO* b) { return PEM_write_bio_X509(b, cert); }));
}

std::string random_token() {
  unsigned char bytes[16];
  check(RAND_bytes(bytes, sizeof bytes), "no randomness for a token");
  std::string token;
  for (unsigned char b : bytes) {
    token += "0123456789abcdef"[b >> 4];
    token += "0123456789abcdef"[b & 15];
  }
  return token;
}

// YAML's double-quoted scalar: the path may hold any character.
std::string yaml_quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) throw Error("fl certs: the output path contains a control character");
    out += c;
  }
  return out + "\"";
}

}  // namespace

void write_test_certificates(const std::string& dir, const CertificateRequest& request) {
  if (request.parties < 1 || request.parties > 100000) throw Error("fl certs: parties must lie in 1..100000");
  if (request.hosts.empty()) throw Error("fl certs: at least one host is needed");
  for (const auto& h : request.hosts)
    if (!is_ip(h) && !is_dns_name(h)) throw Error("fl certs: host '" + h + "' is neither an IP address nor a DNS name");
  make_dirs(dir);
  Key ca_key = new_key();
  Cert ca = make_certificate(ca_key.get(), "loom test CA", Role::Ca, nullptr, nullptr);
  Key server_key = new_key();
  Cert server =
      make_certificate(server_key.get(), request.hosts.front(), Role::Server, ca.get(), ca_key.get(), request.hosts);
  write_key(dir + "/ca.key", ca_key.get());
  write_cert(dir + "/ca.pem", ca.get());
  write_key(dir + "/server.key", server_key.get());
  write_cert(dir + "/server.pem", server.get());
  std::string tokens;
  for (int k = 0; k < request.parties; ++k) {
    const std::string id = "party-" + std::to_string(k), token = random_token();
    tokens += id + ": " + token + "\n";
    std::string party =
        "party_index: " + std::to_string(k) + "\ntoken: " + token + "\ntls_ca: " + yaml_quoted(dir + "/ca.pem") + "\n";
    if (request.client_certs) {
      Key key = new_key();
      Cert cert = make_certificate(key.get(), id, Role::Client, ca.get(), ca_key.get());
      write_key(dir + "/" + id + ".key", key.get());
      write_cert(dir + "/" + id + ".pem", cert.get());
      party += "tls_client_cert: " + yaml_quoted(dir + "/" + id + ".pem") +
               "\ntls_client_key: " + yaml_quoted(dir + "/" + id + ".key") + "\n";
    }
    write_file_atomic(dir + "/" + id + ".yaml", party, kPrivateFileMode);
  }
  write_file_atomic(dir + "/tokens.yaml", tokens, kPrivateFileMode);
}

}  // namespace loom::fl
