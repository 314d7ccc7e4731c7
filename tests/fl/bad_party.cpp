// A hostile party for tests/fl/test_grpc.sh and bench/fl_byzantine.sh. It
// holds a valid token (parties are authenticated but not trusted).
//
//   bad_party ADDRESS CA_PEM PARTY TOKEN MODE [N]
//
// One malformed update, refused (exit 0 iff the server refused it with the
// expected code and did not accept it):
//   wrong_size | bad_offset | nan | oversized | empty | negative_round | liar
// Attacks over rounds (exit 0 when the server reported the last round done;
// prints one line per round with the server's answer):
//   overflow   every round, a finite update of about 1e20 everywhere
//   liar_run   every round, a small update claiming 1.7e308 samples
//   nan_run    every round, a small update with one NaN
//   replay     every round, the same update (accepted once, then a replay)
// Resource exhaustion:
//   flood N    opens N update streams (over N/50 connections), holds them
//              for 8 s (deadline 10 s) without sending, and prints how many
//              the server refused or cancelled
// The first thing every mode does is fetch the model: the update's size and
// round come from the server.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cfloat>
#include <cmath>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include "fl.grpc.pb.h"

namespace wire = loom::fl::wire;

namespace {

const char* code_name(grpc::StatusCode code) {
  static const char* names[] = {
      "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
      "DATA_LOSS", "UNAUTHENTICATED"};
  const int c = static_cast<int>(code);
  return c >= 0 && c <= 16 ? names[c] : "?";
}

struct Party {
  std::string address, ca, id, token;

  std::shared_ptr<grpc::Channel> channel(int pool = 0) const {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ca;
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    args.SetMaxSendMessageSize(64 << 20);
    args.SetInt("loom.pool", pool);  // distinct arguments: a connection of its own
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(address, grpc::SslCredentials(ssl), args);
  }
  void credentials(grpc::ClientContext* ctx, int seconds = 30) const {
    ctx->AddMetadata("x-loom-party", id);
    ctx->AddMetadata("authorization", "Bearer " + token);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  }
};

struct ModelInfo {
  int64_t size = -1, round = -1;
  bool done = false;
  grpc::Status status;
};

// The open round and the model's size (waiting while the server says so).
ModelInfo fetch(const Party& party, wire::Federation::Stub& stub) {
  for (;;) {
    grpc::ClientContext ctx;
    party.credentials(&ctx);
    auto reader = stub.GetModel(&ctx, wire::ModelRequest());
    wire::TensorChunk chunk;
    ModelInfo info;
    bool wait = false;
    while (reader->Read(&chunk)) {
      if (chunk.done()) info.done = true;
      if (chunk.wait()) wait = true;
      if (info.size < 0 && !chunk.done() && !chunk.wait())
        info.size = chunk.total_elements(), info.round = chunk.round();
    }
    info.status = reader->Finish();
    if (!info.status.ok() || info.done || !wait) return info;
  }
}

struct Submitted {
  grpc::Status status;
  wire::SubmitReply reply;
};

Submitted submit(const Party& party, wire::Federation::Stub& stub, const std::vector<float>& values, int64_t round,
                 double count) {
  grpc::ClientContext ctx;
  party.credentials(&ctx);
  Submitted out;
  auto writer = stub.SubmitUpdate(&ctx, &out.reply);
  wire::TensorChunk chunk;
  chunk.set_round(round);
  chunk.set_sample_count(count);
  chunk.set_total_elements(static_cast<int64_t>(values.size()));
  for (size_t off = 0; off < values.size(); off += 16384) {
    chunk.set_offset(static_cast<int64_t>(off));
    chunk.clear_values();
    const size_t end = std::min(values.size(), off + 16384);
    chunk.mutable_values()->Add(values.data() + off, values.data() + end);
    if (!writer->Write(chunk)) break;
  }
  writer->WritesDone();
  out.status = writer->Finish();
  return out;
}

std::vector<float> small_noise(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.f, 1e-3f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = noise(rng);
  return v;
}

// One malformed update; true when refused with the expected code.
int malformed(const Party& party, wire::Federation::Stub& stub, const std::string& mode) {
  ModelInfo info = fetch(party, stub);
  if (!info.status.ok() || info.size <= 0) {
    std::cerr << "could not fetch the model from the server: " << info.status.error_message() << "\n";
    return 2;
  }
  if (mode == "liar") {
    auto s = submit(party, stub, small_noise(info.size, 7), info.round, 1.7e308);
    std::cout << mode << ": " << code_name(s.status.error_code()) << " " << s.status.error_message() << "\n";
    return s.status.error_code() == grpc::StatusCode::INVALID_ARGUMENT && !s.reply.accepted() ? 0 : 1;
  }
  grpc::ClientContext ctx;
  party.credentials(&ctx, 20);
  wire::SubmitReply reply;
  auto writer = stub.SubmitUpdate(&ctx, &reply);
  wire::TensorChunk chunk;
  chunk.set_round(info.round);
  chunk.set_sample_count(10);
  chunk.set_total_elements(info.size);
  if (mode == "wrong_size") {
    chunk.set_total_elements(5);
    for (int i = 0; i < 5; ++i) chunk.add_values(0.f);
  } else if (mode == "bad_offset") {
    chunk.set_offset(100);
    chunk.add_values(0.f);
  } else if (mode == "nan") {
    chunk.add_values(0.f);
    chunk.add_values(std::nanf(""));
  } else if (mode == "oversized") {
    for (int i = 0; i < (4 << 20) / 4; ++i) chunk.add_values(0.f);  // 4 MiB in one message
  } else if (mode == "negative_round") {
    chunk.set_round(-1);
    chunk.add_values(0.f);
  } else if (mode != "empty") {
    std::cerr << "unknown mode " << mode << "\n";
    return 2;
  }
  if (mode != "empty") writer->Write(chunk);
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  std::cout << mode << ": " << code_name(status.error_code()) << " " << status.error_message() << "\n";
  bool expected = mode == "oversized" ? status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED
                                      : status.error_code() == grpc::StatusCode::INVALID_ARGUMENT;
  if (mode == "negative_round") expected = expected && status.error_message().find("round -1") != std::string::npos;
  return expected && !reply.accepted() ? 0 : 1;
}

// An attack in every round until the server says the last one is done.
int over_rounds(const Party& party, wire::Federation::Stub& stub, const std::string& mode) {
  std::vector<float> replayed;
  for (int attempt = 0; attempt < 10000; ++attempt) {
    ModelInfo info = fetch(party, stub);
    if (info.done) return 0;
    if (!info.status.ok()) {
      std::cout << mode << ": GetModel " << code_name(info.status.error_code()) << " " << info.status.error_message()
                << "\n";
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      continue;
    }
    std::vector<float> values;
    double count = 100;
    if (mode == "overflow") {
      // 1e20 everywhere, varied by round so that it is never refused as a replay.
      values = small_noise(info.size, static_cast<uint32_t>(info.round) + 1);
      for (auto& x : values) x = 1e20f * (1.0f + x);
    } else if (mode == "liar_run") {
      values = small_noise(info.size, static_cast<uint32_t>(info.round) + 1);
      count = 1.7e308;
    } else if (mode == "nan_run") {
      values = small_noise(info.size, static_cast<uint32_t>(info.round) + 1);
      values[values.size() / 2] = std::nanf("");
    } else if (mode == "replay") {
      if (replayed.empty()) replayed = small_noise(info.size, 1);
      values = replayed;
    } else {
      std::cerr << "unknown mode " << mode << "\n";
      return 2;
    }
    auto s = submit(party, stub, values, info.round, count);
    std::cout << mode << ": round " << info.round + 1 << ": " << code_name(s.status.error_code()) << " "
              << (s.status.ok() ? (s.reply.accepted() ? "accepted" : "not accepted: " + s.reply.message())
                                : s.status.error_message())
              << std::endl;
    // A refused party waits for the next round like any other: by polling.
    if (!s.status.ok() || !s.reply.accepted()) {
      for (int i = 0; i < 600; ++i) {
        ModelInfo next = fetch(party, stub);
        if (next.done) return 0;
        if (next.status.ok() && next.round > info.round) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    }
  }
  return 1;
}

int flood(const Party& party, int n) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int c = 0; c * 50 < n; ++c) channels.push_back(party.channel(c + 1));
  std::atomic<int> refused{0}, cancelled{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      auto stub = wire::Federation::NewStub(channels[static_cast<size_t>(i / 50)]);
      grpc::ClientContext ctx;
      party.credentials(&ctx, 10);
      wire::SubmitReply reply;
      auto writer = stub->SubmitUpdate(&ctx, &reply);
      std::this_thread::sleep_for(std::chrono::seconds(8));  // hold the stream, send nothing
      grpc::Status s = writer->Finish();
      if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED)
        ++refused;
      else if (s.error_code() == grpc::StatusCode::CANCELLED || s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
        ++cancelled;
      else
        ++other;
    });
  for (auto& t : threads) t.join();
  std::cout << "flood: " << n << " streams: " << refused << " refused (RESOURCE_EXHAUSTED), " << cancelled
            << " held to their deadline, " << other << " other\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6 || argc > 7) {
    std::cerr << "usage: bad_party ADDRESS CA_PEM PARTY TOKEN MODE [N]\n";
    return 2;
  }
  std::ifstream ca_file(argv[2]);
  std::stringstream ca;
  ca << ca_file.rdbuf();
  const Party party{argv[1], ca.str(), argv[3], argv[4]};
  const std::string mode = argv[5];
  if (mode == "flood") return flood(party, argc == 7 ? std::atoi(argv[6]) : 300);
  auto stub = wire::Federation::NewStub(party.channel());
  if (mode == "overflow" || mode == "liar_run" || mode == "nan_run" || mode == "replay")
    return over_rounds(party, *stub, mode);
  return malformed(party, *stub, mode);
}
