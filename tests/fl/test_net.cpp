// The server's start-up checks and `loom fl certs`, without a network: the
// token file (ids, permissions, bounds) and the certificates (SANs verified
// by OpenSSL, secrets 0600, no shell). The network attacks are in
// tests/fl/test_grpc.sh.
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "error_message.h"
#include "loom/core/atomic_file.h"
#include "loom/fl/certs.h"
#include "loom/fl/net.h"
#include "temp_dir.h"

using namespace loom;
using namespace loom::fl;
using loom::testing::error_of;
namespace fs = std::filesystem;

namespace {

std::string write_tokens(const std::string& dir, const std::string& text, unsigned mode = 0600) {
  const std::string path = dir + "/tokens.yaml";
  write_file_atomic(path, text, mode);
  ::chmod(path.c_str(), mode);  // exactly, whatever the umask
  return path;
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 0777;
}

X509* read_cert(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return nullptr;
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  return cert;
}

// True when `cert` chains to `ca` and (if given) matches the host or IP.
bool verifies(X509* cert, X509* ca, const std::string& host = "", const std::string& ip = "") {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, cert, nullptr);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx);
  if (!host.empty()) X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
  if (!ip.empty()) X509_VERIFY_PARAM_set1_ip_asc(param, ip.c_str());
  const bool ok = X509_verify_cert(ctx) == 1;
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return ok;
}

}  // namespace

TEST(FlNet, TokenFileIdsAreSafeFileNames) {
  const std::string dir = loom::testing::fresh_temp_dir("fl_tokens_ids");
  fs::create_directories(dir);
  const std::string token = "0123456789abcdef0123";
  auto error_for = [&](const std::string& text) {
    const std::string path = write_tokens(dir, text);
    return error_of([&] { load_registrations(path, true, 1e6, false); });
  };
  EXPECT_NE(error_for("party-0: " + token + "\n../../../escape: " + token + "\n")
                .find("tokens.yaml:2: party id '../../../escape'"),
            std::string::npos);
  for (const char* bad : {"a/b", ".hidden", "", "x y", "party\\0"})
    EXPECT_NE(error_for(std::string("\"") + bad + "\": " + token + "\n").find("party id"), std::string::npos) << bad;
  // yaml-cpp alone keeps the last of two equal keys: the second token would
  // silently replace the first.
  EXPECT_NE(error_for("party-0: " + token + "\nparty-0: " + token + "x\n").find("tokens.yaml:2"), std::string::npos);
  EXPECT_TRUE(valid_party_id("party-12"));
  EXPECT_TRUE(valid_party_id("Hospital_3.east"));
  EXPECT_FALSE(valid_party_id(std::string(65, 'a')));
}

TEST(FlNet, TokenFileMustNameSomeoneAndKeepSecrets) {
  const std::string dir = loom::testing::fresh_temp_dir("fl_tokens");
  fs::create_directories(dir);
  const std::string token = "0123456789abcdef0123";
  std::string path = write_tokens(dir, "{}\n");
  EXPECT_NE(error_of([&] { load_registrations(path, true, 1e6, false); }).find("no parties are registered"),
            std::string::npos);
  path = write_tokens(dir, "party-0: short\n");
  EXPECT_NE(error_of([&] { load_registrations(path, true, 1e6, false); }).find("at least 16 characters"),
            std::string::npos);
  EXPECT_EQ(load_registrations(path, false, 1e6, false).size(), 1u);  // mutual TLS needs no token
  path = write_tokens(dir, "party-0: " + token + "\nparty-1: {token: " + token + "x, max_sample_count: 600}\n", 0644);
  EXPECT_NE(
      error_of([&] { load_registrations(path, true, 1e6, false); }).find("readable by group or others (mode 0644)"),
      std::string::npos);
  auto parties = load_registrations(path, true, 5000, /*allow_readable=*/true);
  ASSERT_EQ(parties.size(), 2u);
  EXPECT_EQ(parties.at("party-0").token, token);
  EXPECT_EQ(parties.at("party-0").max_sample_count, 5000);
  EXPECT_EQ(parties.at("party-1").token, token + "x");
  EXPECT_EQ(parties.at("party-1").max_sample_count, 600);
  path = write_tokens(dir, "party-0: {token: " + token + ", max_sample_count: -3}\n");
  EXPECT_NE(error_of([&] { load_registrations(path, true, 1e6, false); }).find("max_sample_count must be a number"),
            std::string::npos);
  path = write_tokens(dir, "party-0: {token: " + token + ", weight: 3}\n");
  EXPECT_NE(error_of([&] { load_registrations(path, true, 1e6, false); }).find("unknown field 'weight'"),
            std::string::npos);
}

TEST(FlNet, CertificatesVerifyForEveryHostAndKeepSecretsPrivate) {
  const std::string dir = loom::testing::fresh_temp_dir("fl_certs") + "/x'; touch pwned; echo '";
  write_test_certificates(dir, {2, {"localhost", "127.0.0.1", "fl.example.org", "::1"}, /*client_certs=*/true});
  EXPECT_FALSE(fs::exists("pwned"));
  EXPECT_FALSE(fs::exists(fs::path(dir).parent_path() / "pwned"));
  X509* ca = read_cert(dir + "/ca.pem");
  X509* server = read_cert(dir + "/server.pem");
  X509* party = read_cert(dir + "/party-1.pem");
  ASSERT_TRUE(ca && server && party);
  EXPECT_TRUE(verifies(server, ca, "localhost"));
  EXPECT_TRUE(verifies(server, ca, "fl.example.org"));
  EXPECT_TRUE(verifies(server, ca, "", "127.0.0.1"));
  EXPECT_TRUE(verifies(server, ca, "", "::1"));
  EXPECT_FALSE(verifies(server, ca, "", "10.0.0.1"));
  EXPECT_FALSE(verifies(server, ca, "other.example.org"));
  EXPECT_TRUE(verifies(party, ca));
  EXPECT_FALSE(verifies(server, party));  // a party certificate is no CA
  char cn[64] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(party), NID_commonName, cn, sizeof cn);
  EXPECT_STREQ(cn, "party-1");
  for (X509* c : {ca, server, party}) X509_free(c);
  for (const char* secret : {"ca.key", "server.key", "tokens.yaml", "party-0.yaml", "party-1.key"})
    EXPECT_EQ(mode_of(dir + "/" + secret), 0600u) << secret;
  EXPECT_EQ(load_registrations(dir + "/tokens.yaml", true, 1e6, false).size(), 2u);
  EXPECT_NE(error_of([&] {
              write_test_certificates(dir, {1, {"bad host;rm -rf /"}, false});
            }).find("neither an IP"),
            std::string::npos);
}
