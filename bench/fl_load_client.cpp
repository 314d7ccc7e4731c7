// Loopback load test for `loom fl serve`: K party threads, each with its own
// TLS channel, fetch the model, send a synthetic update of the model's size
// (no local training, so the server is what is measured) and repeat until the
// server reports the last round done. Prints rounds/s and bytes moved.
// Usage: bench_fl_load ADDRESS CA_PEM TOKENS_YAML
#include <grpcpp/grpcpp.h>
#include <yaml-cpp/yaml.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include "fl.grpc.pb.h"

namespace wire = loom::fl::wire;

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: bench_fl_load ADDRESS CA_PEM TOKENS_YAML\n";
    return 2;
  }
  std::ifstream ca_file(argv[2]);
  std::stringstream ca;
  ca << ca_file.rdbuf();
  YAML::Node tokens = YAML::LoadFile(argv[3]);
  std::atomic<int64_t> bytes{0};
  std::atomic<int> rounds_seen{0}, failures{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (const auto& kv : tokens) {
    const std::string party = kv.first.as<std::string>(), token = kv.second.as<std::string>();
    threads.emplace_back([&, party, token] {
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = ca.str();
      grpc::ChannelArguments args;
      args.SetSslTargetNameOverride("localhost");
      auto stub = wire::Federation::NewStub(grpc::CreateCustomChannel(argv[1], grpc::SslCredentials(ssl), args));
      std::mt19937 rng(std::hash<std::string>()(party));
      std::normal_distribution<float> noise(0.f, 1e-3f);
      for (;;) {
        grpc::ClientContext get;
        get.AddMetadata("x-loom-party", party);
        get.AddMetadata("authorization", "Bearer " + token);
        auto reader = stub->GetModel(&get, wire::ModelRequest());
        wire::TensorChunk chunk;
        int64_t round = -1, total = 0;
        bool done = false;
        while (reader->Read(&chunk)) {
          done = done || chunk.done();
          round = chunk.round();
          total = chunk.total_elements();
          bytes += 4 * chunk.values_size();
        }
        if (!reader->Finish().ok()) {
          ++failures;
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          continue;
        }
        if (done) return;
        if (party == "party-0") rounds_seen = static_cast<int>(round + 1);
        grpc::ClientContext put;
        put.AddMetadata("x-loom-party", party);
        put.AddMetadata("authorization", "Bearer " + token);
        wire::SubmitReply reply;
        auto writer = stub->SubmitUpdate(&put, &reply);
        wire::TensorChunk out;
        out.set_round(round);
        out.set_total_elements(total);
        out.set_sample_count(100);
        for (int64_t off = 0; off < total; off += 16384) {
          out.set_offset(off);
          out.clear_values();
          for (int64_t i = off; i < std::min(total, off + 16384); ++i) out.add_values(noise(rng));
          writer->Write(out);
          bytes += 4 * out.values_size();
        }
        writer->WritesDone();
        if (!writer->Finish().ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "{\"parties\": " << threads.size() << ", \"rounds\": " << rounds_seen << ", \"seconds\": " << s
            << ", \"rounds_per_s\": " << rounds_seen / s << ", \"MB_moved\": " << bytes / 1e6
            << ", \"failed_calls\": " << failures << "}\n";
  return 0;
}
