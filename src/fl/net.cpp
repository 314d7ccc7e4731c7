// The federated-learning transport. The threat model (docs/security.md): the
// operator and the token file are trusted; parties are not, even when they
// hold a valid token. So every party input is checked (stream shape, round,
// finiteness, sample count, norm, duplicates), one party can hold at most
// one call and every call ends within call_timeout_s, a failed aggregation
// fails only its round, and no non-finite model is ever applied or stored.
#include "loom/fl/net.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "fl.grpc.pb.h"
#include "loom/core/atomic_file.h"
#include "loom/core/cpu_setup.h"
#include "loom/core/error.h"
#include "loom/core/json.h"
#include "loom/core/safetensors.h"
#include "loom/core/yaml.h"
#include "loom/fl/round.h"
#include "loom/tensor/tensor_io.h"

namespace loom::fl {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const ParamSchema<NetworkOptions>& network_schema() {
  using O = NetworkOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    s.add("address", &O::address, "serve: address to listen on; join: server address")
        .add("aggregator", &O::aggregator, "serve: the aggregation strategy: " + aggregators().valid_names())
        .add("quorum", &O::quorum, "serve: updates needed to close a round at its deadline; 0 = all parties", {0, 1e9})
        .add("round_deadline_s", &O::round_deadline_s, "serve: seconds a round stays open waiting for stragglers",
             {0, 1e9})
        .add("state_dir", &O::state_dir, "serve: directory of the persisted round state (required)")
        .add("tls_cert", &O::tls_cert, "serve: server certificate (PEM)")
        .add("tls_key", &O::tls_key, "serve: server private key (PEM)")
        .add("tokens", &O::tokens,
             "serve: YAML map of the registered parties: id -> token, or id -> {token, max_sample_count}")
        .add("allow_readable_tokens", &O::allow_readable_tokens,
             "serve: start even when the token file is readable by group or others")
        .add_choice("auth", &O::auth, {"token", "mtls"},
                    "serve: how parties prove who they are: token (bearer token over TLS) or mtls (a client "
                    "certificate signed by tls_client_ca, CN = party id)")
        .add("tls_client_ca", &O::tls_client_ca, "serve, auth: mtls: CA that signs the parties' certificates (PEM)")
        .add("max_update_elements", &O::max_update_elements, "serve: refuse updates whose tensor is longer", {1, 1e12})
        .add("max_update_norm", &O::max_update_norm,
             "serve: set aside updates whose L2 norm is above this; 0 = no absolute bound", {0, 1e300})
        .add("max_norm_ratio", &O::max_norm_ratio,
             "serve: set aside updates whose norm is above this multiple of the round's median norm; 0 = none",
             {0, 1e300})
        .add("max_sample_count", &O::max_sample_count,
             "serve: largest sample count a party may claim, unless its token-file entry sets its own", {1, 1e15})
        .add("max_threads", &O::max_threads, "serve: cap on the server's RPC threads; 0 = 2 x parties + 8", {0, 1e5})
        .add("call_timeout_s", &O::call_timeout_s, "serve: any call still open after this long is cancelled",
             {0.1, 1e9})
        .add("insecure", &O::insecure, "no TLS: tokens and updates travel in plaintext (loopback experiments only)")
        .add("tls_ca", &O::tls_ca, "join: CA certificate that signed the server's (PEM)")
        .add("tls_server_name", &O::tls_server_name,
             "join: name to verify in the server certificate; empty = host of address")
        .add("tls_client_cert", &O::tls_client_cert, "join: this party's certificate, for mutual TLS (PEM)")
        .add("tls_client_key", &O::tls_client_key, "join: this party's private key, for mutual TLS (PEM)")
        .add("token", &O::token, "join: this party's token")
        .add("rpc_deadline_s", &O::rpc_deadline_s, "join: deadline of each call", {0.001, 1e9})
        .add("retry_s", &O::retry_s, "join: how long to keep retrying an unreachable server", {0, 1e9});
    return s;
  }();
  return schema;
}

std::vector<ParamSpec> network_param_specs() { return network_schema().specs(); }

bool valid_party_id(const std::string& id) {
  if (id.empty() || id.size() > 64 || !std::isalnum(static_cast<unsigned char>(id[0]))) return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

std::map<std::string, PartyRegistration> load_registrations(const std::string& path, bool tokens_required,
                                                            double default_max_sample_count, bool allow_readable) {
  if (path.empty()) throw Error("tokens is required: a YAML map of party id -> token");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw Error(path + ": cannot read the token file");
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) && !allow_readable) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw Error(path + ": the token file is readable by group or others (mode " + mode +
                "); run chmod 600 on it, or set allow_readable_tokens: true");
  }
  // Strict YAML: a party listed twice in one mapping is refused naming both lines.
  const YAML::Node root = load_yaml_file(path);
  if (!root.IsMap()) throw Error(path + ": expected a mapping of party id -> token");
  std::map<std::string, PartyRegistration> out;
  for (const auto& kv : root) {
    const std::string where = path + ":" + std::to_string(kv.first.Mark().line + 1);
    const std::string id = kv.first.IsScalar() ? kv.first.Scalar() : "";
    if (!valid_party_id(id))
      throw Error(where + ": party id '" + id +
                  "' must be 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit");
    if (out.count(id)) throw Error(where + ": party '" + id + "' is listed twice");
    PartyRegistration reg;
    reg.max_sample_count = default_max_sample_count;
    const YAML::Node& v = kv.second;
    if (v.IsScalar()) {
      reg.token = v.Scalar();
    } else if (v.IsMap()) {
      for (const auto& field : v) {
        const std::string key = field.first.Scalar();
        if (key == "token" && field.second.IsScalar()) {
          reg.token = field.second.Scalar();
        } else if (key == "max_sample_count" && field.second.IsScalar()) {
          char* end = nullptr;
          const std::string text = field.second.Scalar();
          reg.max_sample_count = std::strtod(text.c_str(), &end);
          if (end == text.c_str() || *end || !(reg.max_sample_count >= 1) || !std::isfinite(reg.max_sample_count))
            throw Error(where + ": party '" + id + "': max_sample_count must be a number of at least 1");
        } else {
          throw Error(where + ": party '" + id + "': unknown field '" + key + "' (valid: token, max_sample_count)");
        }
      }
    } else if (!v.IsNull()) {
      throw Error(where + ": party '" + id + "' needs a token or {token, max_sample_count}");
    }
    if (tokens_required && reg.token.size() < 16)
      throw Error(where + ": token of '" + id + "' must be a string of at least 16 characters");
    out[id] = reg;
  }
  if (out.empty()) throw Error(path + ": no parties are registered");
  return out;
}

namespace {

constexpr int64_t kChunk = 16384;  // floats per message: 64 KiB, far below gRPC's 4 MiB limit
// GetModel waits at most this long for a round the party has not yet
// contributed to, then tells it to ask again (so that no call needs to
// outlive call_timeout_s while honest parties wait for stragglers).
constexpr auto kLongPoll = std::chrono::seconds(20);
// Replays of updates accepted up to this many rounds ago are refused.
constexpr int64_t kReplayWindow = 100;

std::string read_required(const std::string& path, const std::string& key) {
  if (path.empty()) throw Error(key + " is required (or set insecure: true for a loopback experiment)");
  return read_file_text(path);
}

bool same_secret(const std::string& a, const std::string& b) {
  // Constant-time for equal lengths, so a token cannot be guessed byte by byte.
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string metadata(const grpc::ServerContext* ctx, const std::string& key) {
  auto it = ctx->client_metadata().find(key);
  return it == ctx->client_metadata().end() ? "" : std::string(it->second.data(), it->second.size());
}

bool all_finite(const torch::Tensor& t) { return std::isfinite(t.sum(torch::kDouble).item<double>()); }

// FNV-1a over the update's bytes: a party that sends the very same update
// twice (replaying an old round, or another party's) is refused.
uint64_t fingerprint(const torch::Tensor& t) {
  const auto* p = static_cast<const unsigned char*>(t.data_ptr());
  const size_t n = static_cast<size_t>(t.numel()) * t.element_size();
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

// At most `burst` lines per `window`, then one line saying how many were
// left out: a flood of refused calls cannot flood the operator's log.
class RateLimitedLog {
 public:
  RateLimitedLog(int burst, std::chrono::seconds window) : burst_(burst), window_(window) {}
  void write(const std::string& line) {
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = Clock::now();
    if (now - start_ >= window_) {
      if (suppressed_ > 0)
        std::cerr << "loom fl serve: (" << suppressed_ << " similar lines left out in the last " << window_.count()
                  << " s)\n";
      start_ = now;
      written_ = suppressed_ = 0;
    }
    if (written_ < burst_) {
      std::cerr << "loom fl serve: " << line << "\n";
      ++written_;
    } else {
      ++suppressed_;
    }
  }

 private:
  std::mutex mu_;
  int burst_;
  std::chrono::seconds window_;
  Clock::time_point start_ = Clock::now();
  int written_ = 0;
  int64_t suppressed_ = 0;
};

// ---------- server ----------

class FederationServer final : public wire::Federation::Service {
 public:
  FederationServer(const NetworkOptions& o, int64_t rounds, const ServedModel& model,
                   std::unique_ptr<Aggregator> aggregator)
      : options_(o),
        mtls_(o.auth == "mtls"),
        parties_(load_registrations(o.tokens, !mtls_, o.max_sample_count, o.allow_readable_tokens)),
        state_dir_(o.state_dir),
        rounds_(rounds),
        model_(model),
        model_size_(model.initial.defined() ? model.initial.numel() : 0),
        aggregator_name_(o.aggregator),
        aggregator_(std::move(aggregator)) {
    if (state_dir_.empty()) throw Error("state_dir is required");
    if (rounds_ < 1) throw Error("rounds must be at least 1");
    if (!aggregator_) throw Error("serve: no aggregator");
    if (aggregator_->needs_reference())
      throw Error("serve: aggregator '" + aggregator_name_ +
                  "' needs a clean reference set on the server, which loom fl serve does not hold (loom fl simulate "
                  "has one)");
    if (!model_.initial.defined() || model_.initial.dim() != 1 || model_.initial.scalar_type() != torch::kFloat)
      throw Error("serve: the initial model must be a [d] float tensor");
    if (!all_finite(model_.initial)) throw Error("serve: the initial model is not finite");
    const int64_t parties = static_cast<int64_t>(parties_.size());
    quorum_ = o.quorum > 0 ? std::min<int64_t>(o.quorum, parties) : parties;
    global_ = model_.initial.clone();
    if (model_.initial.numel() > o.max_update_elements) throw Error("max_update_elements is smaller than the model");
    restore();
    round_opened_ = Clock::now();
  }

  grpc::Status GetModel(grpc::ServerContext* ctx, const wire::ModelRequest*,
                        grpc::ServerWriter<wire::TensorChunk>* writer) override {
    std::string party;
    if (auto s = authenticate(ctx, &party); !s.ok()) return s;
    OpenCall call(this, ctx, party);
    if (!call.ok()) return call.refusal();
    torch::Tensor snapshot;
    int64_t round = 0;
    bool done = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      // Wait (a while) for a round this party has not yet contributed to.
      // Within half of call_timeout_s, so that the watchdog never cancels an honest wait.
      const auto poll = std::min<Clock::duration>(
          kLongPoll,
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(0.5 * options_.call_timeout_s)));
      const auto until = Clock::now() + poll;
      while (!done_ && submitted_.count(party)) {
        if (ctx->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
        if (Clock::now() >= until) {
          lock.unlock();
          wire::TensorChunk again;
          again.set_wait(true);
          again.set_round(round_);
          writer->Write(again);
          return grpc::Status::OK;
        }
        cv_.wait_for(lock, std::chrono::milliseconds(200));
      }
      done = done_;
      round = round_;
      snapshot = global_.clone();
    }
    wire::TensorChunk chunk;
    chunk.set_round(round);
    chunk.set_rounds(rounds_);
    chunk.set_total_elements(snapshot.numel());
    if (done) {
      chunk.set_done(true);
      writer->Write(chunk);
      return grpc::Status::OK;
    }
    const float* data = snapshot.data_ptr<float>();
    for (int64_t off = 0; off < snapshot.numel(); off += kChunk) {
      chunk.set_offset(off);
      chunk.clear_values();
      const int64_t n = std::min(kChunk, snapshot.numel() - off);
      chunk.mutable_values()->Add(data + off, data + off + n);
      if (!writer->Write(chunk)) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "party went away");
    }
    return grpc::Status::OK;
  }

  grpc::Status SubmitUpdate(grpc::ServerContext* ctx, grpc::ServerReader<wire::TensorChunk>* reader,
                            wire::SubmitReply* reply) override {
    std::string party;
    if (auto s = authenticate(ctx, &party); !s.ok()) return s;
    OpenCall call(this, ctx, party);
    if (!call.ok()) return call.refusal();
    const int64_t d = model_size_;
    torch::Tensor update;  // allocated once the first chunk proves the stream is an update of this model
    wire::TensorChunk chunk;
    int64_t expected_offset = 0, round = 0;
    bool started = false;
    double count = 0;
    auto refuse = [&](const std::string& why) {
      refusals_.write("refused update from " + party + ": " + why);
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, why);
    };
    while (reader->Read(&chunk)) {
      if (!started) {
        round = chunk.round();
        count = chunk.sample_count();
        if (round < 0) return refuse("round " + std::to_string(round) + " is not a round (rounds count from 0)");
        if (chunk.total_elements() != d)
          return refuse("update has " + std::to_string(chunk.total_elements()) + " elements; the model has " +
                        std::to_string(d));
        update = torch::empty({d});
        started = true;
      }
      if (chunk.round() != round) return refuse("chunks of one update name different rounds");
      if (chunk.total_elements() != d) return refuse("chunks of one update name different lengths");
      if (chunk.offset() != expected_offset)
        return refuse("chunk offset " + std::to_string(chunk.offset()) + " where " + std::to_string(expected_offset) +
                      " was expected");
      if (chunk.values_size() > d - expected_offset) return refuse("chunk runs past the end of the tensor");
      float* out = update.data_ptr<float>();
      for (int i = 0; i < chunk.values_size(); ++i) {
        const float v = chunk.values(i);
        if (!std::isfinite(v))
          return refuse("update contains NaN or infinity at element " + std::to_string(expected_offset + i));
        out[expected_offset + i] = v;
      }
      expected_offset += chunk.values_size();
    }
    if (ctx->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled");
    if (!started) return refuse("empty update stream");
    if (expected_offset != d)
      return refuse("update stream ended after " + std::to_string(expected_offset) + " of " + std::to_string(d) +
                    " elements");
    // Sample counts are claims: bounded by the party's registration.
    if (auto why = check_sample_count(party, count); !why.empty()) return refuse(why);
    const uint64_t print = fingerprint(update);
    std::lock_guard<std::mutex> lock(mu_);
    if (done_ || round != round_) {
      reply->set_accepted(false);
      reply->set_message("round " + std::to_string(round) + " is closed; the open round is " + std::to_string(round_));
      return grpc::Status::OK;
    }
    if (submitted_.count(party)) {
      reply->set_accepted(false);
      reply->set_message("already submitted for round " + std::to_string(round));
      return grpc::Status::OK;
    }
    if (auto why = duplicate_of(print); !why.empty()) return refuse(why);
    // On disk before it counts: a restarted server still has it.
    const std::string dir = updates_dir(round_);
    make_dirs(dir);
    save_tensors(dir + "/" + party + ".safetensors", {{"update", update}}, {{"sample_count", shortest_decimal(count)}});
    submitted_[party] = {update, count, print};
    std::cerr << "loom fl serve: round " << round_ + 1 << ": accepted update from " << party << " ("
              << submitted_.size() << "/" << parties_.size() << ")\n";
    cv_.notify_all();
    reply->set_accepted(true);
    return grpc::Status::OK;
  }

  // Closes rounds until the last; returns when done. Also the watchdog that
  // cancels calls open longer than call_timeout_s.
  void run_rounds() {
    std::unique_lock<std::mutex> lock(mu_);
    bool warned = false;
    while (!done_) {
      cv_.wait_for(lock, std::chrono::milliseconds(100));
      cancel_overdue_calls();
      const auto waited = std::chrono::duration<double>(Clock::now() - round_opened_).count();
      const auto n = static_cast<int64_t>(submitted_.size());
      if (n == static_cast<int64_t>(parties_.size()) || (waited >= options_.round_deadline_s && n >= quorum_)) {
        close_round();
        warned = false;
      } else if (waited >= options_.round_deadline_s && !warned) {
        std::cerr << "loom fl serve: round " << round_ + 1 << " deadline passed with " << n << " of quorum " << quorum_
                  << " updates; waiting\n";
        warned = true;
      }
    }
    cv_.notify_all();
  }

  size_t party_count() const { return parties_.size(); }

  // Cancels every open call (at shutdown).
  void cancel_all_calls() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [party, call] : open_calls_) call.first->TryCancel();
  }

 private:
  // One open call per party: the second is refused while the first runs.
  class OpenCall {
   public:
    OpenCall(FederationServer* server, grpc::ServerContext* ctx, const std::string& party)
        : server_(server), party_(party) {
      std::lock_guard<std::mutex> lock(server_->mu_);
      ok_ = server_->open_calls_.emplace(party, std::make_pair(ctx, Clock::now())).second;
    }
    ~OpenCall() {
      if (!ok_) return;
      std::lock_guard<std::mutex> lock(server_->mu_);
      server_->open_calls_.erase(party_);
    }
    OpenCall(const OpenCall&) = delete;
    OpenCall& operator=(const OpenCall&) = delete;
    bool ok() const { return ok_; }
    grpc::Status refusal() const {
      server_->refusals_.write("refused a second open call from " + party_);
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, party_ + " already has an open call");
    }

   private:
    FederationServer* server_;
    std::string party_;
    bool ok_ = false;
  };

  void cancel_overdue_calls() {
    const auto now = Clock::now();
    for (auto& [party, call] : open_calls_)
      if (std::chrono::duration<double>(now - call.second).count() > options_.call_timeout_s &&
          !cancelled_.count(call.first)) {
        call.first->TryCancel();
        cancelled_.insert(call.first);
        cancellations_.write("cancelled a call of " + party + " open longer than call_timeout_s");
      }
    // Contexts of finished calls may be reused by gRPC: forget those no longer open.
    for (auto it = cancelled_.begin(); it != cancelled_.end();) {
      bool open = false;
      for (const auto& [party, call] : open_calls_) open = open || call.first == *it;
      it = open ? std::next(it) : cancelled_.erase(it);
    }
  }

  grpc::Status authenticate(const grpc::ServerContext* ctx, std::string* party) {
    if (mtls_) {
      // The identity is the verified client certificate's common name; a
      // party-id header naming someone else is refused.
      auto names = ctx->auth_context()->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME);
      *party = names.empty() ? "" : std::string(names.front().data(), names.front().size());
      const std::string claimed = metadata(ctx, "x-loom-party");
      if (party->empty() || !parties_.count(*party) || (!claimed.empty() && claimed != *party)) {
        unauthenticated_.write("refused a call from certificate '" + *party + "' (claiming '" + claimed +
                               "'): not a registered party");
        return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "unknown party certificate");
      }
      return grpc::Status::OK;
    }
    *party = metadata(ctx, "x-loom-party");
    const std::string auth = metadata(ctx, "authorization");
    auto it = parties_.find(*party);
    const std::string prefix = "Bearer ";
    if (it == parties_.end() || auth.rfind(prefix, 0) != 0 ||
        !same_secret(auth.substr(prefix.size()), it->second.token)) {
      const std::string shown = valid_party_id(*party) ? *party : "(an invalid id)";
      unauthenticated_.write("refused a call from '" + shown + "': missing or invalid token");
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "unknown party or invalid token");
    }
    return grpc::Status::OK;
  }

  // "" when `count` is a plausible claim for `party`, else why not.
  std::string check_sample_count(const std::string& party, double count) const {
    if (!(count > 0) || !std::isfinite(count)) return "sample_count must be positive";
    const double bound = parties_.at(party).max_sample_count;
    if (count > bound)
      return "sample_count " + shortest_decimal(count) + " is above the " + shortest_decimal(bound) +
             " registered for " + party;
    return "";
  }

  // "" unless an update with these bytes was already accepted this round or
  // in the last kReplayWindow rounds (from any party).
  std::string duplicate_of(uint64_t print) const {
    for (const auto& [id, s] : submitted_)
      if (s.fingerprint == print) return "update is identical to the one " + id + " sent this round";
    auto it = seen_.find(print);
    if (it != seen_.end())
      return "update is identical to the one " + it->second.first + " sent in round " +
             std::to_string(it->second.second + 1) + " (a replay)";
    return "";
  }

  std::string updates_dir(int64_t round) const { return state_dir_ + "/updates/round-" + std::to_string(round + 1); }

  void close_round() {
    std::vector<torch::Tensor> updates;
    std::vector<std::string> ids;
    for (const auto& [id, s] : submitted_) {
      ids.push_back(id);
      updates.push_back(s.update);
    }
    nlohmann::json record = {{"round", round_ + 1}, {"submitted", ids}};
    RoundUpdates round{torch::stack(updates), {}, model_.layer_sizes, ids, {}, {}};
    for (const auto& id : ids) round.sample_counts.push_back(submitted_.at(id).sample_count);
    RoundOutcome outcome =
        apply_round(global_, round, *aggregator_, {options_.max_update_norm, options_.max_norm_ratio});
    nlohmann::json rejected = nlohmann::json::array(), kept = nlohmann::json::array();
    for (const auto& [k, why] : outcome.screened.rejected) {
      rejected.push_back({{"party", ids[k]}, {"reason", why}});
      std::cerr << "loom fl serve: round " << round_ + 1 << ": set aside the update of " << ids[k] << ": " << why
                << "\n";
    }
    for (size_t k : outcome.screened.kept) kept.push_back(ids[k]);
    record["parties"] = kept;
    record["norms"] = outcome.screened.norms;  // of every submitted update, in the order of `submitted`
    if (!rejected.empty()) record["rejected"] = rejected;
    if (outcome.failure.empty()) {
      global_ = outcome.global;
      record["weights"] = outcome.weights;
      if (model_.evaluate) record["accuracy"] = model_.evaluate(global_);
    } else {
      // The round fails, the model stays as it was, the federation goes on.
      record["failed"] = outcome.failure;
      std::cerr << "loom fl serve: round " << round_ + 1 << " failed (" << outcome.failure
                << "); the model is unchanged\n";
    }
    history_.push_back(record);
    std::cerr << "loom fl serve: round " << round_ + 1 << " closed with " << kept.size() << " of " << ids.size()
              << " updates"
              << (record.contains("accuracy") ? ", accuracy " + std::to_string(record["accuracy"].get<double>()) : "")
              << "\n";
    for (const auto& [id, s] : submitted_) seen_[s.fingerprint] = {id, round_};
    for (auto it = seen_.begin(); it != seen_.end();)
      it = it->second.second <= round_ - kReplayWindow ? seen_.erase(it) : std::next(it);
    ++round_;
    persist();
    fs::remove_all(updates_dir(round_ - 1));
    submitted_.clear();
    round_opened_ = Clock::now();
    if (round_ >= rounds_) done_ = true;
  }

  // global-N.safetensors first, then state.json names it: a crash between the
  // two leaves the previous state, whose accepted updates are still on disk.
  void persist() {
    if (!all_finite(global_)) throw Error("refusing to persist a non-finite global model");
    make_dirs(state_dir_);
    const std::string global_file = "global-" + std::to_string(round_) + ".safetensors";
    save_tensors(state_dir_ + "/" + global_file, {{"global", global_}});
    nlohmann::json prints = nlohmann::json::array();
    for (const auto& [p, who] : seen_) prints.push_back({std::to_string(p), who.first, who.second});
    nlohmann::json state = {{"round", round_},
                            {"rounds", rounds_},
                            {"global", global_file},
                            {"aggregator", aggregator_name_},
                            {"aggregator_state", aggregator_->state()},
                            {"fingerprints", prints},
                            {"history", history_}};
    write_file_atomic(state_dir_ + "/state.json", state.dump(2));
    for (const auto& e : fs::directory_iterator(state_dir_))
      if (e.path().filename().string().rfind("global-", 0) == 0 && e.path().filename() != global_file)
        fs::remove(e.path());
  }

  void restore() {
    const std::string path = state_dir_ + "/state.json";
    // Before the first round closes there is no state.json, but accepted
    // updates of round 1 may already be on disk.
    if (fs::exists(path)) load_state(path);
    const std::string dir = updates_dir(round_);
    if (fs::exists(dir))
      for (const auto& e : fs::directory_iterator(dir)) {
        // Restored updates pass the checks received ones pass; one that does
        // not is moved aside, and the server starts without it.
        const std::string why = restore_update(e.path());
        if (why.empty()) continue;
        const std::string aside = state_dir_ + "/rejected/round-" + std::to_string(round_ + 1);
        make_dirs(aside);
        std::error_code ec;
        fs::rename(e.path(), aside + "/" + e.path().filename().string(), ec);
        std::cerr << "loom fl serve: dropped " << e.path().string() << ": " << why << " (moved to " << aside << ")\n";
      }
    if (round_ >= rounds_) done_ = true;
    if (round_ == 0 && submitted_.empty()) return;
    std::cerr << "loom fl serve: resumed at round " << round_ + 1 << " with " << submitted_.size()
              << " accepted update(s) on disk\n";
  }

  // "" when the file is an acceptable update (and restores it), else why not.
  std::string restore_update(const fs::path& file) {
    const std::string party = file.stem().string();
    if (file.extension() != ".safetensors" || !parties_.count(party)) return "not an update of a registered party";
    try {
      auto tensors = load_tensors(file.string());
      auto meta = safetensors::File::read(file.string()).metadata();
      if (!tensors.count("update") || tensors.at("update").numel() != global_.numel())
        return "not an update of this model";
      if (!meta.count("sample_count")) return "no sample_count";
      const std::string text = meta.at("sample_count");
      char* end = nullptr;
      const double count = std::strtod(text.c_str(), &end);
      if (end == text.c_str() || *end) return "sample_count '" + text + "' is not a number";
      if (auto why = check_sample_count(party, count); !why.empty()) return why;
      torch::Tensor update = tensors.at("update").flatten().to(torch::kFloat).contiguous();
      if (!all_finite(update)) return "update contains NaN or infinity";
      const uint64_t print = fingerprint(update);
      if (auto why = duplicate_of(print); !why.empty()) return why;
      submitted_[party] = {update, count, print};
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  }

  void load_state(const std::string& path) {
    nlohmann::json state = read_json_file(path);
    try {
      const int64_t round = state.at("round").get<int64_t>();
      if (round < 0 || round > rounds_)
        throw Error(path + ": round " + std::to_string(round) + " is outside 0.." + std::to_string(rounds_) +
                    " (rounds)");
      round_ = round;
      if (state.at("aggregator").get<std::string>() != aggregator_name_)
        throw Error(path + ": saved by aggregator '" + state.at("aggregator").get<std::string>() + "', not '" +
                    aggregator_name_ + "'");
      // The global model's file name is ours, never a path from the file.
      const std::string global_file = "global-" + std::to_string(round_) + ".safetensors";
      if (state.at("global").get<std::string>() != global_file)
        throw Error(path + ": global must be " + global_file + " for round " + std::to_string(round_));
      auto tensors = load_tensors(state_dir_ + "/" + global_file);
      if (!tensors.count("global") || tensors["global"].numel() != global_.numel())
        throw Error(path + ": the saved global model does not match this model's size");
      torch::Tensor global = tensors["global"].to(torch::kFloat).flatten().contiguous();
      if (!all_finite(global)) throw Error(state_dir_ + "/" + global_file + ": the saved global model is not finite");
      global_ = global;
      try {
        aggregator_->restore(state.at("aggregator_state"));
      } catch (const Error& e) {
        throw Error(path + ": aggregator_state: " + e.what());
      }
      for (const auto& f : state.value("fingerprints", nlohmann::json::array()))
        if (f.is_array() && f.size() == 3 && f[0].is_string() && f[1].is_string() && f[2].is_number_integer())
          seen_[std::strtoull(f[0].get<std::string>().c_str(), nullptr, 10)] = {f[1].get<std::string>(),
                                                                                f[2].get<int64_t>()};
      history_ = state.value("history", nlohmann::json::array());
      if (!history_.is_array()) throw Error(path + ": history must be an array");
    } catch (const nlohmann::json::exception& e) {
      throw Error(path + ": " + e.what());
    }
  }

  struct Submission {
    torch::Tensor update;
    double sample_count;
    uint64_t fingerprint;
  };

  NetworkOptions options_;
  bool mtls_;
  std::map<std::string, PartyRegistration> parties_;
  std::string state_dir_;
  int64_t rounds_;
  int64_t quorum_ = 1;
  ServedModel model_;
  int64_t model_size_;  // constant: read without the lock
  std::string aggregator_name_;
  std::unique_ptr<Aggregator> aggregator_;
  RateLimitedLog unauthenticated_{5, std::chrono::seconds(10)};
  RateLimitedLog refusals_{20, std::chrono::seconds(10)};
  // Its own budget: a flood of refusals must not hide the cancellations.
  RateLimitedLog cancellations_{10, std::chrono::seconds(10)};

  std::mutex mu_;
  std::condition_variable cv_;
  int64_t round_ = 0;
  bool done_ = false;
  torch::Tensor global_;
  std::map<std::string, Submission> submitted_;
  std::map<uint64_t, std::pair<std::string, int64_t>> seen_;  // fingerprint -> party, round
  std::map<std::string, std::pair<grpc::ServerContext*, Clock::time_point>> open_calls_;
  std::set<grpc::ServerContext*> cancelled_;
  nlohmann::json history_ = nlohmann::json::array();
  Clock::time_point round_opened_;
};

void warn_insecure(const char* role) {
  std::cerr << "loom fl " << role
            << ": WARNING: insecure: true sends every token and update in plaintext; anyone on the path can read "
               "and replay them. Use it on loopback only.\n";
}

}  // namespace

void serve(const NetworkOptions& o, int64_t rounds, const ServedModel& model, std::unique_ptr<Aggregator> aggregator) {
  FederationServer service(o, rounds, model, std::move(aggregator));
  std::shared_ptr<grpc::ServerCredentials> creds;
  if (o.insecure) {
    if (o.auth == "mtls") throw Error("auth: mtls needs TLS; it cannot be combined with insecure: true");
    warn_insecure("serve");
    creds = grpc::InsecureServerCredentials();
  } else {
    grpc::SslServerCredentialsOptions ssl(o.auth == "mtls" ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                                           : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    if (o.auth == "mtls") ssl.pem_root_certs = read_required(o.tls_client_ca, "tls_client_ca");
    ssl.pem_key_cert_pairs.push_back({read_required(o.tls_key, "tls_key"), read_required(o.tls_cert, "tls_cert")});
    creds = grpc::SslServerCredentials(ssl);
  }
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(o.address, creds, &port);
  builder.RegisterService(&service);
  // One chunk is 64 KiB; anything near 1 MiB is not a loom message.
  builder.SetMaxReceiveMessageSize(1 << 20);
  // Bounded threads: with one open call per party, 2K + 8 serve every
  // party; beyond the cap gRPC answers RESOURCE_EXHAUSTED.
  const auto parties = static_cast<int64_t>(service.party_count());
  const int max_threads = static_cast<int>(o.max_threads > 0 ? o.max_threads : 2 * parties + 8);
  grpc::ResourceQuota quota("loom-fl-serve");
  quota.SetMaxThreads(max_threads);
  builder.SetResourceQuota(quota);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, 4);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) throw Error("cannot listen on " + o.address);
  std::cerr << "loom fl serve: listening on " << o.address << " (" << parties << " parties, at most " << max_threads
            << " RPC threads, auth " << o.auth << ")\n";
  service.run_rounds();
  // Let parties collect the final "done" before going away.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  service.cancel_all_calls();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  std::cerr << "loom fl serve: all rounds done; peak RSS " << peak_rss_kb() / 1024 << " MB\n";
}

// ---------- party ----------

void join(const NetworkOptions& o, const PartyWork& work) {
  if (!work.update) throw Error("join: no local work");
  const std::string& party_id = work.party_id;
  std::shared_ptr<grpc::ChannelCredentials> creds;
  grpc::ChannelArguments args;
  if (o.insecure) {
    warn_insecure("join");
    creds = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = read_required(o.tls_ca, "tls_ca");
    if (!o.tls_client_cert.empty() || !o.tls_client_key.empty()) {
      ssl.pem_cert_chain = read_required(o.tls_client_cert, "tls_client_cert");
      ssl.pem_private_key = read_required(o.tls_client_key, "tls_client_key");
    }
    creds = grpc::SslCredentials(ssl);
    if (!o.tls_server_name.empty()) args.SetSslTargetNameOverride(o.tls_server_name);
  }
  args.SetMaxReceiveMessageSize(1 << 20);
  auto channel = grpc::CreateCustomChannel(o.address, creds, args);
  auto stub = wire::Federation::NewStub(channel);
  auto context = [&](grpc::ClientContext* ctx) {
    ctx->AddMetadata("x-loom-party", party_id);
    if (!o.token.empty()) ctx->AddMetadata("authorization", "Bearer " + o.token);
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::milliseconds(static_cast<int64_t>(o.rpc_deadline_s * 1000)));
  };
  auto unreachable_since = Clock::now();
  auto retry_or_throw = [&](const grpc::Status& s, const std::string& what) {
    if (s.error_code() == grpc::StatusCode::UNAUTHENTICATED || s.error_code() == grpc::StatusCode::INVALID_ARGUMENT)
      throw Error(what + " refused by the server: " + s.error_message());
    if (std::chrono::duration<double>(Clock::now() - unreachable_since).count() > o.retry_s)
      throw Error(what + " failed for " + std::to_string(o.retry_s) + " s: " + s.error_message());
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  };
  for (;;) {
    grpc::ClientContext get_ctx;
    context(&get_ctx);
    auto reader = stub->GetModel(&get_ctx, wire::ModelRequest());
    wire::TensorChunk chunk;
    torch::Tensor global;
    int64_t round = -1, received = 0;
    bool done = false, wait = false;
    while (reader->Read(&chunk)) {
      if (chunk.done()) {
        done = true;
        continue;
      }
      if (chunk.wait()) {
        wait = true;
        continue;
      }
      if (!global.defined()) {
        if (chunk.total_elements() != work.model_size)
          throw Error("the server's model has " + std::to_string(chunk.total_elements()) +
                      " parameters; this party's has " + std::to_string(work.model_size) +
                      " (do the model settings match?)");
        global = torch::empty({chunk.total_elements()});
        round = chunk.round();
      }
      if (chunk.offset() != received || chunk.values_size() > global.numel() - received)
        throw Error("malformed model stream from the server");
      std::copy(chunk.values().begin(), chunk.values().end(), global.data_ptr<float>() + received);
      received += chunk.values_size();
    }
    grpc::Status status = reader->Finish();
    if (!status.ok()) {
      retry_or_throw(status, "GetModel");
      continue;
    }
    unreachable_since = Clock::now();
    if (done) break;
    if (wait || !global.defined() || received != global.numel()) continue;  // the server asks us to ask again
    torch::Tensor update = work.update(global, round).to(torch::kFloat).contiguous();
    if (update.numel() != global.numel())
      throw Error("join: the local update has " + std::to_string(update.numel()) + " values, the model " +
                  std::to_string(global.numel()));
    for (;;) {
      grpc::ClientContext ctx;
      context(&ctx);
      wire::SubmitReply reply;
      auto writer = stub->SubmitUpdate(&ctx, &reply);
      const float* data = update.data_ptr<float>();
      wire::TensorChunk out;
      out.set_round(round);
      out.set_total_elements(update.numel());
      out.set_sample_count(work.sample_count);
      for (int64_t off = 0; off < update.numel(); off += kChunk) {
        out.set_offset(off);
        out.clear_values();
        out.mutable_values()->Add(data + off, data + off + std::min(kChunk, update.numel() - off));
        if (!writer->Write(out)) break;
      }
      writer->WritesDone();
      status = writer->Finish();
      if (status.ok()) {
        std::cerr << "loom fl join: " << party_id << " round " << round + 1 << ": "
                  << (reply.accepted() ? "accepted" : "not accepted (" + reply.message() + ")") << "\n";
        break;
      }
      retry_or_throw(status, "SubmitUpdate");
    }
  }
  std::cerr << "loom fl join: " << party_id << ": training done\n";
}

}  // namespace loom::fl
