#include "cluster/fake_transport.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <thread>
#include <vector>

namespace suanli::cluster {

using Steady = std::chrono::steady_clock;

namespace {

constexpr size_t kMaxQueued = 64;  // messages one direction of a call holds; a writer waits
constexpr auto kPoll = std::chrono::milliseconds(10);  // how often waiters look at the faults

std::pair<std::string, std::string> LinkOf(const std::string& a, const std::string& b) {
  return a < b ? std::make_pair(a, b) : std::make_pair(b, a);
}

}  // namespace

// One call: two directions of messages, the response headers and how the call ended. Both ends
// hold it; every wait re-checks the faults, so a kill, a deadline or a long partition ends it
// while anybody waits on it.
struct FakeNetwork::Call {
  struct Msg {
    std::string bytes;
    Steady::time_point at;  // not visible before
  };
  struct Pipe {
    std::deque<Msg> q;
    bool closed = false;  // the writer is done
    bool lost = false;    // a message was dropped: nothing after it arrives, nor the close
    Steady::time_point last_at;
  };

  FakeNetwork* net = nullptr;
  std::string client, server, method;  // server: the callee's host
  std::string client_cert;             // what the caller "presented" (its Node certificate)
  Headers headers;
  Steady::time_point deadline = Steady::time_point::max();

  std::mutex mu;
  std::condition_variable cv;
  Pipe up, down;  // client → server, server → client
  bool headers_sent = false;
  bool broken = false;    // ended by a fault, a deadline or a cancel: both ends stop at once
  bool finished = false;  // the handler returned: the client reads what is left, then status
  Steady::time_point finished_at;  // when the status can reach the client
  bool delivered = false;          // the client has seen the status: no fault changes it now
  Status status;
  bool partitioned = false;
  Steady::time_point partitioned_since;

  // Under mu: ends the call when a fault or the deadline says so.
  void Check() {
    if (broken) return;
    const auto now = net->clock().Now();
    if (net->Dead(client) || net->Dead(server))
      return Break(Unavailable("connection reset: the peer is gone"));
    // Until the client has the status, the deadline holds (a finished call's status held by a
    // partition is not an answer).
    if (!delivered && now > deadline)
      return Break(DeadlineExceeded("no answer before the deadline"));
    if (net->Faults(client, server).partitioned) {
      if (!partitioned) {
        partitioned = true;
        partitioned_since = now;
      } else if (std::chrono::duration<double>(now - partitioned_since).count() >
                 net->keepalive_seconds()) {
        return Break(Unavailable("keepalive timeout: the peer stopped answering pings"));
      }
    } else {
      partitioned = false;
    }
  }
  void Break(const Status& why) {
    if (broken || delivered) return;
    broken = true;
    finished = false;
    status = why;
    up.q.clear();
    down.q.clear();
    cv.notify_all();
  }
  bool Visible(const Pipe& p) const {
    return !p.q.empty() && !partitioned && net->clock().Now() >= p.q.front().at;
  }
  template <typename Pred>
  void Wait(std::unique_lock<std::mutex>& lock, Pred pred) {
    Check();
    while (!broken && !pred()) {
      cv.wait_for(lock, kPoll);
      Check();
    }
  }
  bool Send(Pipe& p, const google::protobuf::MessageLite& m, bool from_client) {
    std::string bytes;
    if (!m.SerializeToString(&bytes)) return false;
    std::unique_lock<std::mutex> lock(mu);
    Wait(lock, [&] { return p.q.size() < kMaxQueued || p.closed || finished; });
    if (broken || p.closed || (finished && from_client)) return false;
    if (!from_client) headers_sent = true;
    const LinkFaults f = net->Faults(client, server);
    if (p.lost || (f.drop > 0 && net->Random() < f.drop)) {
      // Lost on the way, and what follows with it (a stream never skips a message): the sender
      // cannot tell; only a deadline or the keepalive ends the call.
      p.lost = true;
      net->Count(&Counts::dropped);
      return true;
    }
    Steady::time_point at = net->clock().After(f.delay + f.jitter * net->Random());
    at = std::max(at, p.last_at);  // one stream stays in order
    p.last_at = at;
    p.q.push_back({std::move(bytes), at});
    cv.notify_all();
    return true;
  }
  // A message, or false once the other side is done (or the call broke). limit: the server's
  // method limit (0: none); *error says why a message was refused.
  bool Receive(Pipe& p, google::protobuf::MessageLite* m, size_t limit, Status* error) {
    std::unique_lock<std::mutex> lock(mu);
    Wait(lock, [&] { return Visible(p) || (p.q.empty() && p.closed && !p.lost); });
    if (broken || !Visible(p)) return false;
    std::string bytes = std::move(p.q.front().bytes);
    p.q.pop_front();
    cv.notify_all();
    lock.unlock();
    net->Count(&Counts::delivered);
    if (limit > 0 && bytes.size() > limit) {
      *error = ResourceExhausted(method + ": a message of " + std::to_string(bytes.size()) +
                                 " bytes, above this method's " + std::to_string(limit));
      return false;
    }
    if (!m->ParseFromString(bytes)) {
      *error = InvalidArgument(method + ": a message that does not parse");
      return false;
    }
    return true;
  }
  // The handler returned `s`: the client gets it after the messages before it.
  void Finish(const Status& s) {
    std::lock_guard<std::mutex> lock(mu);
    if (broken) return;
    const LinkFaults f = net->Faults(client, server);
    finished = true;
    finished_at = std::max(net->clock().After(f.delay), down.last_at);
    status = s;
    down.closed = true;
    headers_sent = true;
    cv.notify_all();
  }
  // The client's view of the end.
  Status ClientFinish() {
    std::unique_lock<std::mutex> lock(mu);
    Wait(lock, [&] { return finished && !partitioned && net->clock().Now() >= finished_at; });
    delivered = true;
    return status;
  }
};

namespace {

using Call = FakeNetwork::Call;

class FakeStream final : public ClientStream {
 public:
  explicit FakeStream(std::shared_ptr<Call> c) : c_(std::move(c)) {}
  ~FakeStream() override { Cancel(); }
  bool WaitForHeaders() override {
    std::unique_lock<std::mutex> lock(c_->mu);
    c_->Wait(lock, [&] { return c_->headers_sent && !c_->partitioned; });
    return !c_->broken;
  }
  bool Write(const google::protobuf::MessageLite& m) override { return c_->Send(c_->up, m, true); }
  bool Read(google::protobuf::MessageLite* m) override {
    Status ignored;
    return c_->Receive(c_->down, m, 0, &ignored);
  }
  bool WritesDone() override {
    std::lock_guard<std::mutex> lock(c_->mu);
    if (c_->broken) return false;
    c_->up.closed = true;
    c_->cv.notify_all();
    return true;
  }
  Status Finish() override { return c_->ClientFinish(); }
  void Cancel() override {
    std::lock_guard<std::mutex> lock(c_->mu);
    c_->Break(Cancelled("the call was cancelled"));
  }

 private:
  std::shared_ptr<Call> c_;
};

class FakeServerCall final : public ServerCall {
 public:
  FakeServerCall(std::shared_ptr<Call> c, const RpcMethod* m)
      : c_(std::move(c)), m_(m), peer_("fake:" + c_->client + ":1") {}
  const std::string& method() const override { return c_->method; }
  const std::string& peer() const override { return peer_; }
  const std::string& peer_certificate() const override { return c_->client_cert; }
  std::string Header(std::string_view key) const override {
    for (const auto& [k, v] : c_->headers)
      if (k == key) return v;
    return "";
  }
  bool Read(google::protobuf::MessageLite* m) override {
    if (!error_.ok()) return false;
    return c_->Receive(c_->up, m, m_->max_message_bytes, &error_);
  }
  bool Write(const google::protobuf::MessageLite& m) override {
    return c_->Send(c_->down, m, false);
  }
  bool SendHeaders() override {
    std::lock_guard<std::mutex> lock(c_->mu);
    c_->Check();
    if (c_->broken) return false;
    c_->headers_sent = true;
    c_->cv.notify_all();
    return true;
  }
  bool Cancelled() const override {
    std::lock_guard<std::mutex> lock(c_->mu);
    c_->Check();
    return c_->broken;
  }
  const Status& error() const { return error_; }

 private:
  std::shared_ptr<Call> c_;
  const RpcMethod* m_;
  std::string peer_;
  Status error_;  // why Read refused a message
};

class FakeChannel final : public Channel {
 public:
  FakeChannel(FakeNetwork* net, std::string from, std::string address)
      : net_(net), from_(std::move(from)), address_(std::move(address)) {}
  const std::string& address() const override { return address_; }
  Status Call(std::string_view method, const CallOptions& o,
              const google::protobuf::MessageLite& request,
              google::protobuf::MessageLite* reply) override {
    auto s = Open(method, o);
    s->Write(request);
    s->WritesDone();
    const bool got = s->Read(reply);
    Status st = s->Finish();
    if (o.peer_certificate) *o.peer_certificate = net_->CertificateOf(HostOf(address_));
    if (st.ok() && !got) return Internal(std::string(method) + ": no reply");
    return st;
  }
  std::unique_ptr<ClientStream> Open(std::string_view method, const CallOptions& o) override;

 private:
  FakeNetwork* net_;
  std::string from_, address_;
};

}  // namespace

struct FakeNetwork::Listener {
  FakeNetwork* net = nullptr;
  std::string address;
  std::map<std::string, RpcMethod, std::less<>> methods;
  Gate gate;
  RpcLimits limits;
  std::mutex mu;
  std::condition_variable idle;
  size_t calls = 0;    // admitted with a session
  size_t threads = 0;  // handlers running
  // Handler threads, joined (not detached): a thread's exit frees its thread-local state (e.g.
  // OpenSSL's per-thread random generator), which must not outlive the server. Finished ones are
  // joined when the next call starts, the rest at shutdown.
  std::vector<std::pair<std::thread, std::shared_ptr<std::atomic<bool>>>> workers;
  bool shut = false;
  std::vector<std::weak_ptr<Call>> live;

  // Admits and runs a call on a thread of its own, or ends it at once.
  void Start(const std::shared_ptr<Call>& c) {
    auto it = methods.find(c->method);
    if (it == methods.end()) {
      c->Finish(Unimplemented("no such method"));
      return;
    }
    const RpcMethod* m = &it->second;
    auto call = std::make_shared<FakeServerCall>(c, m);
    const bool admitted = !m->needs_session || gate(*call);
    {
      std::lock_guard<std::mutex> lock(mu);
      Status refused;
      if (shut)
        refused = Unavailable("the worker is stopping");
      else if (m->needs_session && !admitted)
        refused = Unauthenticated("this worker needs a session");
      else if (m->needs_session && calls >= limits.max_calls)
        refused = ResourceExhausted("too many calls in flight on this worker");
      if (!refused.ok()) {
        net->Count(&Counts::refused);
        c->Finish(refused);
        return;
      }
      if (m->needs_session) ++calls;
      ++threads;
      live.erase(std::remove_if(live.begin(), live.end(),
                                [](const std::weak_ptr<Call>& w) { return w.expired(); }),
                 live.end());
      live.push_back(c);
    }
    auto done = std::make_shared<std::atomic<bool>>(false);
    std::thread t([this, c, call, m, done] {
      Status s = m->handler(*call);
      if (!call->error().ok()) s = call->error();
      {
        std::lock_guard<std::mutex> lock(mu);
        if (m->needs_session) --calls;
      }
      c->Finish(s);
      std::lock_guard<std::mutex> lock(mu);
      if (--threads == 0) idle.notify_all();
      *done = true;
    });
    std::vector<std::thread> finished;
    {
      std::lock_guard<std::mutex> lock(mu);
      for (auto it = workers.begin(); it != workers.end();)
        if (*it->second) {
          finished.push_back(std::move(it->first));
          it = workers.erase(it);
        } else {
          ++it;
        }
      workers.emplace_back(std::move(t), std::move(done));
    }
    for (std::thread& f : finished) f.join();
  }
};

namespace {

class FakeServer final : public Server {
 public:
  FakeServer(FakeNetwork* net, std::unique_ptr<FakeNetwork::Listener> l, int port)
      : net_(net), l_(std::move(l)), port_(port) {}
  ~FakeServer() override { Shutdown(); }
  int port() const override { return port_; }
  void Wait() override {
    std::unique_lock<std::mutex> lock(l_->mu);
    l_->idle.wait(lock, [&] { return stopped_; });
  }
  void Shutdown() override;

 private:
  FakeNetwork* net_;
  std::unique_ptr<FakeNetwork::Listener> l_;
  int port_;
  bool stopped_ = false;  // under l_->mu
};

}  // namespace

class FakeNetwork::NodeTransport final : public Transport {
 public:
  NodeTransport(FakeNetwork* net, std::string name) : net_(net), name_(std::move(name)) {}
  StatusOr<std::shared_ptr<Channel>> Dial(const std::string& address) override {
    if (address.find(':') == std::string::npos) return InvalidArgument(address + ": not host:port");
    return std::shared_ptr<Channel>(std::make_shared<FakeChannel>(net_, name_, address));
  }
  StatusOr<std::unique_ptr<Server>> Serve(const std::string& listen, std::vector<RpcMethod> methods,
                                          Gate gate, const RpcLimits& limits) override {
    const size_t colon = listen.rfind(':');
    if (colon == std::string::npos || listen.substr(0, colon) != name_)
      return InvalidArgument("node " + name_ + " cannot listen on " + listen);
    auto l = std::make_unique<Listener>();
    l->net = net_;
    l->gate = std::move(gate);
    l->limits = limits;
    for (RpcMethod& m : methods) {
      std::string n = m.name;
      l->methods.emplace(std::move(n), std::move(m));
    }
    int port = std::atoi(listen.c_str() + colon + 1);
    std::lock_guard<std::mutex> lock(net_->mu_);
    if (port == 0) port = ++net_->next_port_[name_];
    l->address = name_ + ":" + std::to_string(port);
    if (net_->listeners_.count(l->address)) return Unavailable(l->address + ": address in use");
    net_->listeners_[l->address] = l.get();
    return std::unique_ptr<Server>(std::make_unique<FakeServer>(net_, std::move(l), port));
  }

 private:
  FakeNetwork* net_;
  std::string name_;
};

void FakeNetwork::Unlisten(const Listener* l) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = listeners_.find(l->address);
  if (it != listeners_.end() && it->second == l) listeners_.erase(it);
}

void FakeServer::Shutdown() {
  net_->Unlisten(l_.get());
  std::vector<std::shared_ptr<Call>> live;
  {
    std::lock_guard<std::mutex> lock(l_->mu);
    if (stopped_) return;
    l_->shut = true;
    for (auto& w : l_->live)
      if (auto c = w.lock()) live.push_back(c);
  }
  for (auto& c : live) {
    std::lock_guard<std::mutex> lock(c->mu);
    c->Break(Unavailable("the worker is stopping"));
  }
  std::unique_lock<std::mutex> lock(l_->mu);
  l_->idle.wait(lock, [&] { return l_->threads == 0; });
  std::vector<std::pair<std::thread, std::shared_ptr<std::atomic<bool>>>> workers;
  workers.swap(l_->workers);
  lock.unlock();
  for (auto& [t, done] : workers) t.join();
  lock.lock();
  stopped_ = true;
  l_->idle.notify_all();
}

std::unique_ptr<ClientStream> FakeChannel::Open(std::string_view method, const CallOptions& o) {
  return std::make_unique<FakeStream>(net_->Connect(from_, address_, method, o));
}

FakeNetwork::FakeNetwork(uint64_t seed, const Clock& clock) : clock_(clock), rng_(seed) {}

std::string FakeNetwork::CertificateOf(const std::string& node) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = certs_.find(node);
  return it == certs_.end() ? "" : it->second;
}

FakeNetwork::~FakeNetwork() = default;

std::shared_ptr<Transport> FakeNetwork::Node(const std::string& name,
                                             const std::string& certificate) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    certs_[name] = certificate;
  }
  return std::make_shared<NodeTransport>(this, name);
}

std::shared_ptr<FakeNetwork::Call> FakeNetwork::Connect(const std::string& from,
                                                        const std::string& address,
                                                        std::string_view method,
                                                        const CallOptions& o) {
  auto c = std::make_shared<Call>();
  c->net = this;
  c->client = from;
  c->server = HostOf(address);
  c->client_cert = CertificateOf(from);
  c->method = std::string(method);
  c->headers = o.headers;
  if (o.seconds > 0) c->deadline = clock_.After(o.seconds);
  Listener* l = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++counts_.calls;
    calls_.insert(c);
    for (auto it = calls_.begin(); it != calls_.end();)  // the ended calls nobody holds
      it = it->use_count() == 1 && *it != c ? calls_.erase(it) : std::next(it);
    auto it = listeners_.find(address);
    if (it != listeners_.end() && !dead_.count(it->first.substr(0, it->first.rfind(':'))) &&
        !dead_.count(from))
      l = it->second;
  }
  if (!l) {
    std::lock_guard<std::mutex> lock(c->mu);
    c->Break(Unavailable("connection refused: nothing listens at " + address));
    return c;
  }
  // A partitioned or frozen server gets the call once the link heals (as a SYN retried): until
  // then the client waits, up to its deadline or the keepalive.
  l->Start(c);
  return c;
}

void FakeNetwork::EndCallsOf(const std::string& node, const Status& why) {
  std::vector<std::shared_ptr<Call>> calls;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& c : calls_)
      if (c->client == node || c->server == node) calls.push_back(c);
  }
  for (auto& c : calls) {
    std::lock_guard<std::mutex> lock(c->mu);
    c->Break(why);
  }
}

void FakeNetwork::Kill(const std::string& node) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    dead_.insert(node);
  }
  EndCallsOf(node, Unavailable("connection reset: " + node + " is gone"));
}

void FakeNetwork::Revive(const std::string& node) {
  std::lock_guard<std::mutex> lock(mu_);
  dead_.erase(node);
}

void FakeNetwork::Partition(const std::string& a, const std::string& b) {
  std::lock_guard<std::mutex> lock(mu_);
  links_[LinkOf(a, b)].partitioned = true;
}

void FakeNetwork::Heal(const std::string& a, const std::string& b) {
  std::lock_guard<std::mutex> lock(mu_);
  links_[LinkOf(a, b)].partitioned = false;
}

void FakeNetwork::Freeze(const std::string& node) {
  std::lock_guard<std::mutex> lock(mu_);
  frozen_.insert(node);
}

void FakeNetwork::Thaw(const std::string& node) {
  std::lock_guard<std::mutex> lock(mu_);
  frozen_.erase(node);
}

void FakeNetwork::SetDelay(const std::string& a, const std::string& b, double seconds,
                           double jitter) {
  std::lock_guard<std::mutex> lock(mu_);
  LinkFaults& f = links_[LinkOf(a, b)];
  f.delay = std::max(0.0, seconds);
  f.jitter = std::max(0.0, jitter);
}

void FakeNetwork::SetDrop(const std::string& a, const std::string& b, double p) {
  std::lock_guard<std::mutex> lock(mu_);
  links_[LinkOf(a, b)].drop = std::clamp(p, 0.0, 1.0);
}

void FakeNetwork::SetKeepaliveSeconds(double s) {
  std::lock_guard<std::mutex> lock(mu_);
  keepalive_seconds_ = s;
}

FakeNetwork::LinkFaults FakeNetwork::Faults(const std::string& a, const std::string& b) const {
  std::lock_guard<std::mutex> lock(mu_);
  LinkFaults f;
  auto it = links_.find(LinkOf(a, b));
  if (it != links_.end()) f = it->second;
  if (frozen_.count(a) || frozen_.count(b)) f.partitioned = true;
  return f;
}

bool FakeNetwork::Dead(const std::string& node) const {
  std::lock_guard<std::mutex> lock(mu_);
  return dead_.count(node) > 0;
}

double FakeNetwork::keepalive_seconds() const {
  std::lock_guard<std::mutex> lock(mu_);
  return keepalive_seconds_;
}

double FakeNetwork::Random() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::uniform_real_distribution<double>(0, 1)(rng_);
}

void FakeNetwork::Count(uint64_t Counts::*field) {
  std::lock_guard<std::mutex> lock(mu_);
  ++(counts_.*field);
}

FakeNetwork::Counts FakeNetwork::counts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_;
}

}  // namespace suanli::cluster
