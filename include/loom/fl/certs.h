// Test credentials for a federation, made with OpenSSL's C API (no shell,
// no openssl tool): a CA, a server certificate whose subjectAltName lists
// every host given (DNS names and IP addresses), a random bearer token per
// party, and optionally a client certificate per party (CN = party id) for
// mutual TLS. Private keys and tokens are written 0600.
//
//   DIR/ca.pem, DIR/ca.key                   the CA (ECDSA P-256, 365 days)
//   DIR/server.pem, DIR/server.key           signed by the CA, SAN = hosts
//   DIR/tokens.yaml                          party-k: token, for `loom fl serve`
//   DIR/party-k.yaml                         party_index, token, tls_ca (+ client cert) for `loom fl join`
//   DIR/party-k.pem, DIR/party-k.key         with client_certs: the party's certificate
//
//   loom::fl::write_test_certificates("certs", {3, {"localhost", "127.0.0.1"}, true});
#pragma once
#include <string>
#include <vector>

namespace loom::fl {

struct CertificateRequest {
  int parties = 3;
  std::vector<std::string> hosts = {"localhost", "127.0.0.1"};
  bool client_certs = false;  // also write party-k.pem/.key for mutual TLS
};
// Hosts must be IP addresses or DNS names (letters, digits, '-', '.', a
// leading "*." wildcard); anything else is a loom::Error naming it.
void write_test_certificates(const std::string& dir, const CertificateRequest& request);

}  // namespace loom::fl
