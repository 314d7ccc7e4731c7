// A misbehaving party for tests/fl/test_grpc.sh: fetches the model (to learn
// its size and the open round), sends one malformed update for that round,
// and prints the server's status code name. Exit 0 iff the server refused it
// with the expected code and did not accept it.
//   bad_party ADDRESS CA_PEM PARTY TOKEN MODE   MODE: wrong_size | bad_offset | nan | oversized | empty
#include <grpcpp/grpcpp.h>

#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>

#include "fl.grpc.pb.h"

namespace wire = loom::fl::wire;

int main(int argc, char** argv) {
  if (argc != 6) {
    std::cerr << "usage: bad_party ADDRESS CA_PEM PARTY TOKEN MODE\n";
    return 2;
  }
  const std::string mode = argv[5];
  std::ifstream ca_file(argv[2]);
  std::stringstream ca;
  ca << ca_file.rdbuf();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ca.str();
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  args.SetMaxSendMessageSize(64 << 20);
  auto stub = wire::Federation::NewStub(grpc::CreateCustomChannel(argv[1], grpc::SslCredentials(ssl), args));
  auto credentials = [&](grpc::ClientContext* ctx) {
    ctx->AddMetadata("x-loom-party", argv[3]);
    ctx->AddMetadata("authorization", std::string("Bearer ") + argv[4]);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  };
  // The model's size and the open round, from the server itself.
  int64_t model_size = -1, round = -1;
  {
    grpc::ClientContext ctx;
    credentials(&ctx);
    auto reader = stub->GetModel(&ctx, wire::ModelRequest());
    wire::TensorChunk first;
    while (reader->Read(&first))
      if (model_size < 0) model_size = first.total_elements(), round = first.round();
    if (!reader->Finish().ok() || model_size <= 0) {
      std::cerr << "could not fetch the model from the server\n";
      return 2;
    }
  }
  grpc::ClientContext ctx;
  credentials(&ctx);
  wire::SubmitReply reply;
  auto writer = stub->SubmitUpdate(&ctx, &reply);
  wire::TensorChunk chunk;
  chunk.set_round(round);
  chunk.set_sample_count(10);
  chunk.set_total_elements(model_size);
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
  } else if (mode != "empty") {
    std::cerr << "unknown mode " << mode << "\n";
    return 2;
  }
  if (mode != "empty") writer->Write(chunk);
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  const char* names[] = {
      "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
      "DATA_LOSS", "UNAUTHENTICATED"};
  const int code = static_cast<int>(status.error_code());
  std::cout << mode << ": " << (code >= 0 && code <= 16 ? names[code] : "?") << " " << status.error_message() << "\n";
  const bool expected = mode == "oversized" ? status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED
                                            : status.error_code() == grpc::StatusCode::INVALID_ARGUMENT;
  return expected && !reply.accepted() ? 0 : 1;
}
