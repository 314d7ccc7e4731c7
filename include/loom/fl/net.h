// The real deployment's transport: `loom fl serve` (the aggregator) and
// `loom fl join` (a party) over gRPC (proto/fl.proto), with TLS (a CA-signed
// server certificate the parties verify) and a per-party bearer token, or
// mutual TLS (a client certificate per party). Rounds close when every party
// has submitted, or at the deadline once a quorum has; the server's state
// (global model, round, carried aggregator state, and every accepted update
// of the open round) is written atomically, so a restarted server continues
// where it stopped and loses nothing accepted.
//
// Parties are not trusted (docs/security.md): the server refuses malformed,
// non-finite, replayed and over-claiming updates, sets aside updates above
// the norm bounds, holds each party to one open call and every call to
// call_timeout_s, and never applies or stores a non-finite model; a failed
// aggregation fails only its round.
//
// This module moves tensors and enforces the protocol; the model and the
// data come from the caller (cli/cmd_fl.cpp builds the Fashion-MNIST
// experiment of fl/simulate.h):
//
//   loom::fl::ServedModel model{flat.initial(), flat.layer_sizes(), evaluate};
//   loom::fl::serve(options, /*rounds=*/10, model, loom::fl::make_aggregator("bayes"));
//   loom::fl::join(options, {"party-0", flat.size(), 600.0, train_one_round});
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "loom/core/param_schema.h"
#include "loom/fl/aggregate.h"

namespace loom::fl {

// serve's and join's options; one list, so one file can configure both.
struct NetworkOptions {
  std::string address = "127.0.0.1:50051";
  std::string aggregator = "bayes";
  int64_t quorum = 0;  // 0 = all parties
  double round_deadline_s = 60;
  std::string state_dir;
  std::string tls_cert, tls_key;
  std::string tokens;
  bool allow_readable_tokens = false;
  std::string auth = "token";  // token | mtls
  std::string tls_client_ca;
  int64_t max_update_elements = 100000000;
  // Defaults: over 1000x the honest update norms of the Fashion-MNIST MLP in
  // docs/fl.md's runs (0.3-0.8), and 10x the round's median norm.
  double max_update_norm = 1000;
  double max_norm_ratio = 10;
  double max_sample_count = 1e6;
  int64_t max_threads = 0;  // 0 = 2 x parties + 8
  double call_timeout_s = 300;
  bool insecure = false;
  std::string tls_ca, tls_server_name;
  std::string tls_client_cert, tls_client_key;
  std::string token;
  double rpc_deadline_s = 600;
  double retry_s = 120;
};
const ParamSchema<NetworkOptions>& network_schema();
std::vector<ParamSpec> network_param_specs();

// What the server coordinates: the model's initial flat parameters, how they
// split into tensors (for per-layer aggregators), and optionally a score of
// a global model (e.g. held-out accuracy) recorded in each round's history.
struct ServedModel {
  at::Tensor initial;  // [d] float32
  std::vector<int64_t> layer_sizes;
  std::function<double(const at::Tensor& global)> evaluate;  // empty = none
};
// Serves `rounds` rounds, aggregating with `aggregator` (named
// options.aggregator in the persisted state); returns when the last is done.
void serve(const NetworkOptions& options, int64_t rounds, const ServedModel& model,
           std::unique_ptr<Aggregator> aggregator);

// A party's side: who it is, the size of the model it expects, the sample
// count it reports, and its local work of one round (global model in,
// update out).
struct PartyWork {
  std::string party_id;
  int64_t model_size = 0;
  double sample_count = 0;
  std::function<at::Tensor(const at::Tensor& global, int64_t round)> update;
};
// Runs until the server reports the last round done.
void join(const NetworkOptions& options, const PartyWork& work);

// The token file: the registered parties, each with its token and the
// largest sample count it may claim:
//   party-0: 3f9a...                                   (max_sample_count = the default)
//   party-1: {token: 3f9a..., max_sample_count: 6000}
// Ids must be safe file names (1-64 of [A-Za-z0-9._-], starting with a letter
// or digit); the file must not be readable by group or others unless
// allow_readable; errors name the file and line.
struct PartyRegistration {
  std::string token;  // may be empty when tokens are not required (mutual TLS)
  double max_sample_count = 0;
};
std::map<std::string, PartyRegistration> load_registrations(const std::string& path, bool tokens_required,
                                                            double default_max_sample_count, bool allow_readable);
bool valid_party_id(const std::string& id);

}  // namespace loom::fl
