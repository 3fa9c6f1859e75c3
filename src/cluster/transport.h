// Transport: gRPC channels and servers with the pool's security, limits and status mapping.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "suanli/status.h"

namespace suanli::cluster {

// The largest message either side accepts. Steps are sized well below it (a prompt chunk's
// activations or logits); anything bigger is refused by gRPC before it is parsed.
inline constexpr int kMaxMessageBytes = 128 << 20;
// A pipeline as the workers know it: a label for logs and messages, and the capability every
// call on it presents (random, secret: never logged, never in an error message).
struct PipelineKey {
  std::string id;
  std::string capability;
};

inline constexpr uint32_t kProtocolVersion =
    5;  // 4: capabilities; 5: handshake in headers (worker.proto)

// Every channel pings its peer this often when idle and gives up on it after as long without an
// answer, so a peer that froze, died or was cut off breaks its streams within about 2 s. Servers
// accept pings twice as often.
inline constexpr int kKeepaliveMs = 1000;
// Closing a stream waits at most this long for a peer to acknowledge.
inline constexpr double kCloseSeconds = 5;

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

// Sets a deadline `seconds` from now (calls that need no session: the handshake).
void SetDeadline(grpc::ClientContext* ctx, double seconds);

// The host part of a gRPC peer string: "ipv4:1.2.3.4:5" → "ipv4:1.2.3.4".
std::string HostOf(const std::string& peer);

Status FromGrpc(const grpc::Status& s, const std::string& what);
grpc::Status ToGrpc(const Status& s);

// Runs f() (a blocking call on ctx's stream: Finish, WritesDone) and cancels ctx when it has
// not returned after `seconds`, so a frozen peer cannot hold the caller. Returns f()'s result.
template <typename F>
auto CallWithin(grpc::ClientContext* ctx, double seconds, F&& f) -> decltype(f()) {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread timer([&] {
    std::unique_lock<std::mutex> lock(mu);
    if (!cv.wait_for(lock, std::chrono::duration<double>(seconds), [&] { return done; }))
      ctx->TryCancel();
  });
  struct Join {
    std::mutex& mu;
    std::condition_variable& cv;
    bool& done;
    std::thread& t;
    ~Join() {
      {
        std::lock_guard<std::mutex> lock(mu);
        done = true;
      }
      cv.notify_all();
      t.join();
    }
  } join{mu, cv, done, timer};
  return f();
}

// The deadline of a transfer of `bytes`: a fixed allowance plus the time at a pessimistic
// bandwidth, so a 4 GB stream is not cut at the default while a dead peer is still noticed.
double TransferDeadlineSeconds(uint64_t bytes, double bytes_per_second);

}  // namespace suanli::cluster
