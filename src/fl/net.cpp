#include "loom/fl/net.h"

#include <grpcpp/grpcpp.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "fl.grpc.pb.h"
#include "loom/core/atomic_file.h"
#include "loom/core/cpu_setup.h"
#include "loom/core/error.h"
#include "loom/core/safetensors.h"
#include "loom/fl/aggregate.h"
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
        .add("tokens", &O::tokens, "serve: YAML map party id -> token")
        .add("max_update_elements", &O::max_update_elements, "serve: refuse updates whose tensor is longer", {1, 1e12})
        .add("insecure", &O::insecure, "no TLS (loopback experiments only)")
        .add("tls_ca", &O::tls_ca, "join: CA certificate that signed the server's (PEM)")
        .add("tls_server_name", &O::tls_server_name,
             "join: name to verify in the server certificate; empty = host of address")
        .add("token", &O::token, "join: this party's token")
        .add("rpc_deadline_s", &O::rpc_deadline_s, "join: deadline of each call", {0.001, 1e9})
        .add("retry_s", &O::retry_s, "join: how long to keep retrying an unreachable server", {0, 1e9});
    return s;
  }();
  return schema;
}

std::vector<ParamSpec> network_param_specs() { return network_schema().specs(); }

namespace {

constexpr int64_t kChunk = 16384;  // floats per message: 64 KiB, far below gRPC's 4 MiB limit

std::string read_required(const std::string& path, const std::string& key) {
  if (path.empty()) throw Error(key + " is required (or set insecure: true for a loopback experiment)");
  return read_file_text(path);
}

std::map<std::string, std::string> load_tokens(const std::string& path) {
  if (path.empty()) throw Error("tokens is required: a YAML map of party id -> token");
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw Error(path + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (!root.IsMap()) throw Error(path + ": expected a mapping of party id -> token");
  std::map<std::string, std::string> out;
  for (const auto& kv : root) {
    if (!kv.second.IsScalar() || kv.second.Scalar().size() < 16)
      throw Error(path + ":" + std::to_string(kv.first.Mark().line + 1) + ": token of '" + kv.first.Scalar() +
                  "' must be a string of at least 16 characters");
    out[kv.first.Scalar()] = kv.second.Scalar();
  }
  return out;
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

// ---------- server ----------

class FederationServer final : public wire::Federation::Service {
 public:
  FederationServer(const NetworkOptions& o, int64_t rounds, const ServedModel& model,
                   std::unique_ptr<Aggregator> aggregator)
      : tokens_(load_tokens(o.tokens)),
        state_dir_(o.state_dir),
        rounds_(rounds),
        max_elements_(o.max_update_elements),
        deadline_s_(o.round_deadline_s),
        model_(model),
        aggregator_name_(o.aggregator),
        aggregator_(std::move(aggregator)) {
    if (state_dir_.empty()) throw Error("state_dir is required");
    if (rounds_ < 1) throw Error("rounds must be at least 1");
    if (!aggregator_) throw Error("serve: no aggregator");
    if (!model_.initial.defined() || model_.initial.dim() != 1 || model_.initial.scalar_type() != torch::kFloat)
      throw Error("serve: the initial model must be a [d] float tensor");
    const int64_t parties = static_cast<int64_t>(tokens_.size());
    quorum_ = o.quorum > 0 ? std::min<int64_t>(o.quorum, parties) : parties;
    global_ = model_.initial.clone();
    if (model_.initial.numel() > max_elements_) throw Error("max_update_elements is smaller than the model");
    restore();
    round_opened_ = Clock::now();
  }

  grpc::Status GetModel(grpc::ServerContext* ctx, const wire::ModelRequest*,
                        grpc::ServerWriter<wire::TensorChunk>* writer) override {
    std::string party;
    if (auto s = authenticate(ctx, &party); !s.ok()) return s;
    torch::Tensor snapshot;
    int64_t round = 0;
    bool done = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      // Wait for a round this party has not yet contributed to.
      while (!done_ && submitted_.count(party)) {
        if (ctx->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
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
    const int64_t d = global_.numel();
    torch::Tensor update = torch::empty({d});
    float* out = update.data_ptr<float>();
    wire::TensorChunk chunk;
    int64_t expected_offset = 0, round = -1;
    double count = 0;
    auto refuse = [&](const std::string& why) {
      std::cerr << "loom fl serve: refused update from " << party << ": " << why << "\n";
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, why);
    };
    while (reader->Read(&chunk)) {
      if (round < 0) {
        round = chunk.round();
        count = chunk.sample_count();
      }
      if (chunk.round() != round) return refuse("chunks of one update name different rounds");
      if (chunk.total_elements() != d)
        return refuse("update has " + std::to_string(chunk.total_elements()) + " elements; the model has " +
                      std::to_string(d));
      if (chunk.offset() != expected_offset)
        return refuse("chunk offset " + std::to_string(chunk.offset()) + " where " + std::to_string(expected_offset) +
                      " was expected");
      if (chunk.values_size() > d - expected_offset) return refuse("chunk runs past the end of the tensor");
      for (int i = 0; i < chunk.values_size(); ++i) {
        const float v = chunk.values(i);
        if (!std::isfinite(v))
          return refuse("update contains NaN or infinity at element " + std::to_string(expected_offset + i));
        out[expected_offset + i] = v;
      }
      expected_offset += chunk.values_size();
    }
    if (round < 0) return refuse("empty update stream");
    if (expected_offset != d)
      return refuse("update stream ended after " + std::to_string(expected_offset) + " of " + std::to_string(d) +
                    " elements");
    if (!(count > 0) || !std::isfinite(count)) return refuse("sample_count must be positive");
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
    // On disk before it counts: a restarted server still has it.
    const std::string dir = updates_dir(round_);
    make_dirs(dir);
    save_tensors(dir + "/" + party + ".safetensors", {{"update", update}}, {{"sample_count", std::to_string(count)}});
    submitted_[party] = {update, count};
    std::cerr << "loom fl serve: round " << round_ + 1 << ": accepted update from " << party << " ("
              << submitted_.size() << "/" << tokens_.size() << ")\n";
    cv_.notify_all();
    reply->set_accepted(true);
    return grpc::Status::OK;
  }

  // Closes rounds until the last; returns when done.
  void run_rounds() {
    std::unique_lock<std::mutex> lock(mu_);
    bool warned = false;
    while (!done_) {
      cv_.wait_for(lock, std::chrono::milliseconds(100));
      const auto waited = std::chrono::duration<double>(Clock::now() - round_opened_).count();
      const auto n = static_cast<int64_t>(submitted_.size());
      if (n == static_cast<int64_t>(tokens_.size()) || (waited >= deadline_s_ && n >= quorum_)) {
        close_round();
        warned = false;
      } else if (waited >= deadline_s_ && !warned) {
        std::cerr << "loom fl serve: round " << round_ + 1 << " deadline passed with " << n << " of quorum " << quorum_
                  << " updates; waiting\n";
        warned = true;
      }
    }
    cv_.notify_all();
  }

 private:
  grpc::Status authenticate(const grpc::ServerContext* ctx, std::string* party) const {
    *party = metadata(ctx, "x-loom-party");
    const std::string auth = metadata(ctx, "authorization");
    auto it = tokens_.find(*party);
    const std::string prefix = "Bearer ";
    if (it == tokens_.end() || auth.rfind(prefix, 0) != 0 || !same_secret(auth.substr(prefix.size()), it->second)) {
      std::cerr << "loom fl serve: refused a call from '" << *party << "': missing or invalid token\n";
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "unknown party or invalid token");
    }
    return grpc::Status::OK;
  }

  std::string updates_dir(int64_t round) const { return state_dir_ + "/updates/round-" + std::to_string(round + 1); }

  void close_round() {
    std::vector<torch::Tensor> updates;
    std::vector<double> counts;
    std::vector<std::string> ids;
    for (const auto& [id, uc] : submitted_) {
      ids.push_back(id);
      updates.push_back(uc.first);
      counts.push_back(uc.second);
    }
    Aggregate a = aggregator_->aggregate({torch::stack(updates), counts, model_.layer_sizes, ids});
    global_ = global_ + a.update;
    nlohmann::json record = {{"round", round_ + 1}, {"parties", ids}, {"weights", a.weights}};
    if (model_.evaluate) record["accuracy"] = model_.evaluate(global_);
    history_.push_back(record);
    std::cerr << "loom fl serve: round " << round_ + 1 << " closed with " << ids.size() << " updates"
              << (record.contains("accuracy") ? ", accuracy " + std::to_string(record["accuracy"].get<double>()) : "")
              << "\n";
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
    make_dirs(state_dir_);
    const std::string global_file = "global-" + std::to_string(round_) + ".safetensors";
    save_tensors(state_dir_ + "/" + global_file, {{"global", global_}});
    nlohmann::json state = {{"round", round_},
                            {"rounds", rounds_},
                            {"global", global_file},
                            {"aggregator", aggregator_name_},
                            {"aggregator_state", aggregator_->state()},
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
        const std::string party = e.path().stem().string();
        if (!tokens_.count(party)) continue;
        auto file = load_tensors(e.path().string());
        auto meta = safetensors::File::read(e.path().string()).metadata();
        if (!file.count("update") || file.at("update").numel() != global_.numel() || !meta.count("sample_count"))
          throw Error(e.path().string() + ": not an update of this model (delete it to drop that party's update)");
        submitted_[party] = {file.at("update").flatten().to(torch::kFloat), std::atof(meta.at("sample_count").c_str())};
      }
    if (round_ >= rounds_) done_ = true;
    if (round_ == 0 && submitted_.empty()) return;
    std::cerr << "loom fl serve: resumed at round " << round_ + 1 << " with " << submitted_.size()
              << " accepted update(s) on disk\n";
  }

  void load_state(const std::string& path) {
    try {
      nlohmann::json state = nlohmann::json::parse(read_file_text(path));
      round_ = state.at("round").get<int64_t>();
      if (state.at("aggregator").get<std::string>() != aggregator_name_)
        throw Error(path + ": saved by aggregator '" + state.at("aggregator").get<std::string>() + "', not '" +
                    aggregator_name_ + "'");
      auto tensors = load_tensors(state_dir_ + "/" + state.at("global").get<std::string>());
      if (!tensors.count("global") || tensors["global"].numel() != global_.numel())
        throw Error(path + ": the saved global model does not match this model's size");
      global_ = tensors["global"].to(torch::kFloat).flatten();
      aggregator_->restore(state.at("aggregator_state"));
      history_ = state.value("history", nlohmann::json::array());
    } catch (const nlohmann::json::exception& e) {
      throw Error(path + ": " + e.what());
    }
  }

  std::map<std::string, std::string> tokens_;
  std::string state_dir_;
  int64_t rounds_, max_elements_;
  double deadline_s_;
  int64_t quorum_ = 1;
  ServedModel model_;
  std::string aggregator_name_;
  std::unique_ptr<Aggregator> aggregator_;

  std::mutex mu_;
  std::condition_variable cv_;
  int64_t round_ = 0;
  bool done_ = false;
  torch::Tensor global_;
  std::map<std::string, std::pair<torch::Tensor, double>> submitted_;
  nlohmann::json history_ = nlohmann::json::array();
  Clock::time_point round_opened_;
};

}  // namespace

void serve(const NetworkOptions& o, int64_t rounds, const ServedModel& model, std::unique_ptr<Aggregator> aggregator) {
  FederationServer service(o, rounds, model, std::move(aggregator));
  std::shared_ptr<grpc::ServerCredentials> creds;
  if (o.insecure) {
    creds = grpc::InsecureServerCredentials();
  } else {
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({read_required(o.tls_key, "tls_key"), read_required(o.tls_cert, "tls_cert")});
    creds = grpc::SslServerCredentials(ssl);
  }
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(o.address, creds, &port);
  builder.RegisterService(&service);
  // One chunk is 64 KiB; anything near 1 MiB is not a loom message.
  builder.SetMaxReceiveMessageSize(1 << 20);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) throw Error("cannot listen on " + o.address);
  std::cerr << "loom fl serve: listening on " << o.address << "\n";
  service.run_rounds();
  // Let parties collect the final "done" before going away.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
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
    creds = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = read_required(o.tls_ca, "tls_ca");
    creds = grpc::SslCredentials(ssl);
    if (!o.tls_server_name.empty()) args.SetSslTargetNameOverride(o.tls_server_name);
  }
  args.SetMaxReceiveMessageSize(1 << 20);
  auto channel = grpc::CreateCustomChannel(o.address, creds, args);
  auto stub = wire::Federation::NewStub(channel);
  const double rpc_deadline = o.rpc_deadline_s, retry_s = o.retry_s;
  auto context = [&](grpc::ClientContext* ctx) {
    ctx->AddMetadata("x-loom-party", party_id);
    ctx->AddMetadata("authorization", "Bearer " + o.token);
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::milliseconds(static_cast<int64_t>(rpc_deadline * 1000)));
  };
  auto unreachable_since = Clock::now();
  auto retry_or_throw = [&](const grpc::Status& s, const std::string& what) {
    if (s.error_code() == grpc::StatusCode::UNAUTHENTICATED || s.error_code() == grpc::StatusCode::INVALID_ARGUMENT)
      throw Error(what + " refused by the server: " + s.error_message());
    if (std::chrono::duration<double>(Clock::now() - unreachable_since).count() > retry_s)
      throw Error(what + " failed for " + std::to_string(retry_s) + " s: " + s.error_message());
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  };
  for (;;) {
    grpc::ClientContext get_ctx;
    context(&get_ctx);
    auto reader = stub->GetModel(&get_ctx, wire::ModelRequest());
    wire::TensorChunk chunk;
    torch::Tensor global;
    int64_t round = -1, received = 0;
    bool done = false;
    while (reader->Read(&chunk)) {
      if (chunk.done()) {
        done = true;
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
    if (done) break;
    if (received != global.numel()) continue;
    unreachable_since = Clock::now();
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

// ---------- certificates ----------

void write_test_certificates(const std::string& dir, int parties, const std::vector<std::string>& hosts) {
  if (parties < 1) throw Error("parties must be at least 1");
  make_dirs(dir);
  std::string san;
  for (const auto& h : hosts) {
    const bool ip = !h.empty() && h.find_first_not_of("0123456789.") == std::string::npos;
    san += (san.empty() ? "" : ",") + std::string(ip ? "IP:" : "DNS:") + h;
  }
  const std::string q = "'" + dir + "'";
  // The documented recipe (docs/fl.md), run with the openssl tool.
  const std::vector<std::string> steps = {
      "openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj '/CN=loom test CA' -keyout " + q + "/ca.key -out " +
          q + "/ca.pem",
      "openssl req -newkey rsa:2048 -nodes -subj '/CN=" + hosts.front() + "' -keyout " + q + "/server.key -out " + q +
          "/server.csr",
      "printf 'subjectAltName=" + san + "\\n' > " + q + "/server.ext",
      "openssl x509 -req -in " + q + "/server.csr -CA " + q + "/ca.pem -CAkey " + q +
          "/ca.key -CAcreateserial -days 365 -extfile " + q + "/server.ext -out " + q + "/server.pem",
  };
  for (const auto& cmd : steps)
    if (std::system((cmd + " > /dev/null 2>&1").c_str()) != 0)
      throw Error("certificate step failed: " + cmd + " (is openssl installed?)");
  std::random_device rd;
  std::string tokens;
  for (int k = 0; k < parties; ++k) {
    std::string token;
    for (int i = 0; i < 32; ++i) token += "0123456789abcdef"[rd() % 16];
    tokens += "party-" + std::to_string(k) + ": " + token + "\n";
    write_file_atomic(dir + "/party-" + std::to_string(k) + ".yaml",
                      "party_index: " + std::to_string(k) + "\ntoken: " + token + "\ntls_ca: " + dir + "/ca.pem\n");
  }
  write_file_atomic(dir + "/tokens.yaml", tokens);
}

}  // namespace loom::fl
