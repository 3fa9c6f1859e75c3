// flood: a stranger's resource attacks on a worker, for tests/integration/attack_test.sh.
//
//   flood ADDR MODE N MIB SECONDS
//
// holds N concurrent calls of MODE for SECONDS, each sending MIB MiB, with no session:
//   unary   LoadStage requests (a unary call's body)
//   stream  Forward streams that send one large Batch and then hold the stream open
//   hello   Hello requests (the handshake's first message, which needs no session)
//   conns   N separate connections, each holding one Forward stream
// and prints how many calls the worker refused at once and how many it still held at the end.
// It never authenticates: everything it sends should cost the worker next to nothing.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "suanli/cluster/v1/worker.grpc.pb.h"

namespace v1 = suanli::cluster::v1;

namespace {

std::shared_ptr<grpc::Channel> Dial(const std::string& addr, bool own_connection) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(1 << 30);
  args.SetMaxReceiveMessageSize(1 << 30);
  // A distinct argument keeps gRPC from sharing one connection among the channels.
  if (own_connection) args.SetInt("suanli.flood.connection", std::rand());
  return grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), args);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: flood ADDR unary|stream|hello|conns N MIB SECONDS\n");
    return 2;
  }
  const std::string addr = argv[1], mode = argv[2];
  const int n = std::atoi(argv[3]);
  const size_t bytes = static_cast<size_t>(std::atof(argv[4]) * (1 << 20));
  const double seconds = std::atof(argv[5]);
  if (n < 1 || n > 4096 || seconds <= 0 || seconds > 120) {
    std::fprintf(stderr, "flood: N must be 1..4096 and SECONDS 0..120\n");
    return 2;
  }
  const auto deadline = std::chrono::system_clock::now() +
                        std::chrono::duration_cast<std::chrono::system_clock::duration>(
                            std::chrono::duration<double>(seconds));
  const std::string payload(bytes, '\x41');
  auto shared = Dial(addr, false);
  std::atomic<int> refused{0}, held{0}, sent{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&] {
      auto ch = mode == "conns" ? Dial(addr, true) : shared;
      auto stub = v1::Worker::NewStub(ch);
      for (int round = 0; round < 1000 && std::chrono::system_clock::now() < deadline; ++round) {
        grpc::ClientContext ctx;
        ctx.set_deadline(deadline);
        if (mode == "unary") {
          v1::LoadStageRequest req;
          req.set_pipeline_id("flood");
          req.set_header_sha256(payload);
          v1::LoadStageReply reply;
          ++sent;
          grpc::Status s = stub->LoadStage(&ctx, req, &reply);
          (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ? held : refused)++;
        } else if (mode == "hello") {
          v1::HelloRequest req;
          req.set_nonce(payload);
          v1::HelloReply reply;
          ++sent;
          grpc::Status s = stub->Hello(&ctx, req, &reply);
          (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ? held : refused)++;
        } else {
          v1::ForwardSummary summary;
          auto w = stub->Forward(&ctx, &summary);
          v1::Batch b;
          b.set_pipeline_id("flood");
          b.set_activations(payload);
          ++sent;
          w->Write(b);
          // Wait for the worker's verdict: a stream it neither refuses nor reads is held.
          grpc::Status s = w->Finish();
          (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ? held : refused)++;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  std::printf("flood %s: %d calls of %.1f MiB, %d refused before the deadline, %d held\n",
              mode.c_str(), sent.load(), bytes / double(1 << 20), refused.load(), held.load());
  return 0;
}
