// FakeNetwork: pool nodes in one process, linked by queues instead of sockets, with faults on
// command: a node killed (its calls reset, its servers refuse), a link partitioned (messages held;
// calls across it break after the keepalive time, as on a real cut), a node frozen (all its links
// held), delay with jitter (messages of different calls overtake each other; one stream's stay in
// order), and messages dropped with a probability (a lossy or hostile relay: only deadlines save
// the caller). Production code runs over it unchanged: Pool, PipelineClient and WorkerServer take
// a Transport (transport.h); Node(name) is one node's.
//
// Semantics follow grpc_transport.h where they matter to callers: status codes, deadlines
// (DEADLINE_EXCEEDED at the client, Cancelled() at the server), the gate before any message is
// read, each method's message limit, max_calls, and a stream's response headers.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <utility>

#include "base/clock.h"
#include "cluster/transport.h"

namespace suanli::cluster {

class FakeNetwork {
 public:
  // Delays, deadlines and the keepalive run on `clock` (a ManualClock: virtual time, so a test
  // advances past a 2 s detection without waiting for it).
  explicit FakeNetwork(uint64_t seed = 1, const Clock& clock = Clock::Real());
  const Clock& clock() const { return clock_; }
  ~FakeNetwork();
  FakeNetwork(const FakeNetwork&) = delete;
  FakeNetwork& operator=(const FakeNetwork&) = delete;

  // The transport of node `name`: its calls come from `name`; its servers listen at "name:N"
  // (Serve("name:0") takes the next free N). The network must outlive it. `certificate` (PEM) is
  // what its peers see as its TLS certificate (ServerCall::peer_certificate, and
  // CallOptions::peer_certificate of calls to it); "" is plain TCP. Nothing is encrypted.
  std::shared_ptr<Transport> Node(const std::string& name, const std::string& certificate = "");
  std::string CertificateOf(const std::string& node) const;

  // Faults. Nodes are named by host ("w1"); a link is both directions between two nodes.
  void Kill(const std::string& node);    // every call of or to it ends UNAVAILABLE; refuses
  void Revive(const std::string& node);  // accepts calls again (its servers that still exist)
  void Partition(const std::string& a, const std::string& b);
  void Heal(const std::string& a, const std::string& b);
  void Freeze(const std::string& node);  // every link of it held, as a stopped process
  void Thaw(const std::string& node);
  // Each message a → b (or b → a) arrives `seconds` later, plus up to `jitter` more.
  void SetDelay(const std::string& a, const std::string& b, double seconds, double jitter = 0);
  // Each message between them is lost with probability p (0 ≤ p ≤ 1).
  void SetDrop(const std::string& a, const std::string& b, double p);
  // A call across a partition breaks after this long (the keepalive; default 2 s).
  void SetKeepaliveSeconds(double s);

  struct Counts {
    uint64_t calls = 0, delivered = 0, dropped = 0, refused = 0;
  };
  Counts counts() const;

  struct Call;
  struct Listener;
  class NodeTransport;

  // Internals shared with the calls (fake_transport.cc).
  struct LinkFaults {
    bool partitioned = false;
    double delay = 0, jitter = 0, drop = 0;
  };
  LinkFaults Faults(const std::string& a, const std::string& b) const;  // includes frozen ends
  bool Dead(const std::string& node) const;
  double keepalive_seconds() const;
  double Random();  // uniform [0, 1)
  void Count(uint64_t Counts::*field);
  std::shared_ptr<Call> Connect(const std::string& from, const std::string& address,
                                std::string_view method, const CallOptions& o);
  void Unlisten(const Listener* l);

 private:
  friend class NodeTransport;
  void EndCallsOf(const std::string& node, const Status& why);

  const Clock& clock_;
  mutable std::mutex mu_;
  std::mt19937_64 rng_;
  std::map<std::pair<std::string, std::string>, LinkFaults> links_;  // (min, max) node names
  std::set<std::string> dead_, frozen_;
  std::map<std::string, Listener*> listeners_;  // by address
  std::map<std::string, int> next_port_;        // by host
  std::map<std::string, std::string> certs_;    // by node
  std::set<std::shared_ptr<Call>> calls_;       // live calls (ended ones leave)
  double keepalive_seconds_ = 2;
  Counts counts_;
};

}  // namespace suanli::cluster
