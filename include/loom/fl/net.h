// The real deployment: `loom fl serve` (the aggregator) and `loom fl join`
// (a party) over gRPC (proto/fl.proto), with TLS (a CA-signed server
// certificate the parties verify) and a per-party bearer token. Rounds close
// when every party has submitted, or at the deadline once a quorum has;
// the server's state (global model, round, carried aggregator state, and
// every accepted update of the open round) is written atomically, so a
// restarted server continues where it stopped and loses nothing accepted.
//
//   loom::Params p(loom::fl::network_param_specs());
//   p.load_yaml_file("configs/fl-serve.yaml");
//   loom::fl::serve(p);
#pragma once
#include <string>
#include <vector>

#include "loom/core/params.h"

namespace loom::fl {

// Simulation settings (model, data split, corruption of a party) plus the
// network's own; serve and join read the same list, so one file can hold both.
std::vector<ParamSpec> network_param_specs();

void serve(const Params& params);
// Runs party `party_index` until the server reports the last round done.
void join(const Params& params);

// Writes DIR/ca.pem, DIR/ca.key, DIR/server.pem, DIR/server.key (SAN = hosts)
// and DIR/tokens.yaml (party-0 ... party-(K-1): random token) with the
// openssl command-line tool, plus DIR/party-k.yaml with each party's token.
void write_test_certificates(const std::string& dir, int parties, const std::vector<std::string>& hosts);

}  // namespace loom::fl
