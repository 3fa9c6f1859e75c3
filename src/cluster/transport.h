// Transport: gRPC channels and servers with the pool's security, limits and status mapping.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "suanli/status.h"

namespace suanli::cluster {

// The largest message either side accepts. Steps are sized well below it (a prompt chunk's
// activations or logits); anything bigger is refused by gRPC before it is parsed.
inline constexpr int kMaxMessageBytes = 128 << 20;
inline constexpr uint32_t kProtocolVersion = 2;  // 2: batches (worker.proto)

struct SecurityOptions {
  std::string token;     // the pool token (auth.h)
  std::string tls_cert;  // PEM files; all three empty: plain TCP
  std::string tls_key;
  std::string tls_ca;  // peers are verified against this CA
  bool tls() const { return !tls_cert.empty() || !tls_key.empty() || !tls_ca.empty(); }
  // All or none of the TLS files, each readable.
  Status Validate() const;
};

// A channel to a worker, with keepalive and the message limit.
StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& address,
                                                     const SecurityOptions& sec);
StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const SecurityOptions& sec);

// Adds the auth metadata and, when seconds > 0, a deadline.
void PrepareContext(grpc::ClientContext* ctx, const SecurityOptions& sec, double seconds);
// Whether a server call carries the right key.
bool Authorized(const grpc::ServerContext* ctx, const std::string& call_key);

Status FromGrpc(const grpc::Status& s, const std::string& what);
grpc::Status ToGrpc(const Status& s);

// The deadline of a transfer of `bytes`: a fixed allowance plus the time at a pessimistic
// bandwidth, so a 4 GB stream is not cut at the default while a dead peer is still noticed.
double TransferDeadlineSeconds(uint64_t bytes, double bytes_per_second);

}  // namespace suanli::cluster
