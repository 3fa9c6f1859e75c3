#include "cluster/rpc_server.h"

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/proto_utils.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "cluster/grpc_transport.h"

namespace suanli::cluster {

namespace {

// Ends a call at once with `status`, reading nothing.
class Refusal final : public grpc::ServerGenericBidiReactor {
 public:
  explicit Refusal(const grpc::Status& s) { Finish(s); }
  void OnDone() override { delete this; }
};

}  // namespace

struct RpcServer::Impl final : public grpc::CallbackGenericService {
  RpcLimits limits;
  Gate gate;
  std::map<std::string, RpcMethod, std::less<>> methods;
  std::unique_ptr<grpc::Server> server;
  int port = 0;

  std::mutex mu;
  std::condition_variable idle_cv;  // threads reached 0
  size_t threads = 0;               // handler threads alive
  size_t calls = 0;                 // session calls in flight
  size_t handshakes = 0;
  std::map<std::string, size_t> handshakes_by_host;
  bool shut = false;
  bool stopped = false;  // Shutdown finished
  std::condition_variable stopped_cv;

  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override;
  void Ended(bool session, const std::string& host);
};

namespace {

// A call run by a handler on a thread of its own: the reactor's callbacks wake the thread's
// blocking Read/Write. The reactor deletes itself in OnDone, after the thread's Finish; the
// thread touches nothing of it after that.
class Call final : public grpc::ServerGenericBidiReactor, public ServerCall {
 public:
  Call(RpcServer::Impl* srv, grpc::GenericCallbackServerContext* ctx, const RpcMethod* m,
       std::string name)
      : srv_(srv), ctx_(ctx), m_(m), method_(std::move(name)), peer_(ctx->peer()) {}

  const std::string& method() const override { return method_; }
  const std::string& peer() const override { return peer_; }
  const std::string& peer_certificate() const override {
    if (!cert_read_) {  // only the handshake asks: parse the TLS peer's certificate then
      cert_ = PeerCertificate(ctx_->auth_context().get());
      cert_read_ = true;
    }
    return cert_;
  }
  std::string Header(std::string_view key) const override {
    const auto& md = ctx_->client_metadata();
    auto it = md.find(grpc::string_ref(key.data(), key.size()));
    return it == md.end() ? "" : std::string(it->second.data(), it->second.size());
  }
  bool Read(google::protobuf::MessageLite* m) override {
    if (!ops_.Begin(&reading_, [&] { return !error_.ok(); })) return false;
    in_.Clear();
    StartRead(&in_);
    if (!ops_.Wait(&reading_)) return false;
    if (in_.Length() > m_->max_message_bytes) {
      error_ =
          ResourceExhausted(method_ + ": a message of " + std::to_string(in_.Length()) +
                            " bytes, above this method's " + std::to_string(m_->max_message_bytes));
      return false;
    }
    if (!grpc::SerializationTraits<google::protobuf::MessageLite>::Deserialize(&in_, m).ok()) {
      error_ = InvalidArgument(method_ + ": a message that does not parse");
      return false;
    }
    return true;
  }
  bool Write(const google::protobuf::MessageLite& m) override {
    bool own = false;
    out_.Clear();  // the last write's bytes were sent
    if (!grpc::SerializationTraits<google::protobuf::MessageLite>::Serialize(m, &out_, &own).ok())
      return false;
    if (!ops_.Begin(&writing_, [&] { return !error_.ok(); })) return false;
    StartWrite(&out_);
    return ops_.Wait(&writing_);
  }
  bool SendHeaders() override {
    if (!ops_.Begin(&sending_, [&] { return !error_.ok(); })) return false;
    StartSendInitialMetadata();
    return ops_.Wait(&sending_);
  }
  bool Cancelled() const override {
    std::lock_guard<std::mutex> lock(ops_.mu);
    return cancelled_;
  }

  // The handler's thread: runs it, frees the call's admission slot, then ends the call (the
  // last touch of `this`). The slot is freed before the status is sent, so a client that has
  // seen its call end finds the slot free (only the reactor's small remains wait for OnDone).
  void Run() {
    Status s = m_->handler(*this);
    if (!error_.ok()) s = error_;  // a refused message says more than what followed it
    srv_->Ended(m_->needs_session, HostOf(peer_));
    Finish(ToGrpc(s));
  }

  void OnReadDone(bool ok) override { ops_.Done(&reading_, ok); }
  void OnWriteDone(bool ok) override { ops_.Done(&writing_, ok); }
  void OnSendInitialMetadataDone(bool ok) override { ops_.Done(&sending_, ok); }
  void OnCancel() override {
    std::lock_guard<std::mutex> lock(ops_.mu);
    cancelled_ = true;
  }
  void OnDone() override { delete this; }

 private:
  RpcServer::Impl* srv_;
  grpc::GenericCallbackServerContext* ctx_;
  const RpcMethod* m_;
  std::string method_, peer_;
  mutable std::string cert_;
  mutable bool cert_read_ = false;
  grpc::ByteBuffer in_, out_;
  mutable ReactorOps ops_;
  ReactorOps::Op reading_, writing_, sending_;
  bool cancelled_ = false;
  Status error_;  // why Read refused a message (written by the handler's thread only)
};

}  // namespace

grpc::ServerGenericBidiReactor* RpcServer::Impl::CreateReactor(
    grpc::GenericCallbackServerContext* ctx) {
  const std::string& full = ctx->method();
  if (full.size() <= kServicePrefix.size() ||
      full.compare(0, kServicePrefix.size(), kServicePrefix))
    return new Refusal(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no such service"));
  std::string name = full.substr(kServicePrefix.size());
  auto it = methods.find(name);
  if (it == methods.end())
    return new Refusal(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no such method"));
  const RpcMethod& m = it->second;
  auto* call = new Call(this, ctx, &m, std::move(name));
  const std::string host = HostOf(ctx->peer());
  const bool admitted = !m.needs_session || gate(*call);  // the MAC check, outside mu
  {
    std::lock_guard<std::mutex> lock(mu);
    grpc::Status refused;
    if (shut) {
      refused = grpc::Status(grpc::StatusCode::UNAVAILABLE, "the worker is stopping");
    } else if (m.needs_session) {
      if (!admitted)
        refused =
            grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                         "this worker needs a session: Hello and Authenticate with the pool token");
      else if (calls >= limits.max_calls)
        refused = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                               "too many calls in flight on this worker");
      else
        ++calls;
    } else if (handshakes >= limits.max_handshakes ||
               handshakes_by_host[host] >= limits.max_handshakes_per_host) {
      refused = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                             "too many handshakes in flight; try again shortly");
    } else {
      ++handshakes;
      ++handshakes_by_host[host];
    }
    if (!refused.ok()) {
      if (!m.needs_session && handshakes_by_host[host] == 0) handshakes_by_host.erase(host);
      delete call;
      return new Refusal(refused);
    }
    ++threads;
  }
  std::thread([this, call] {
    call->Run();
    std::lock_guard<std::mutex> lock(mu);
    if (--threads == 0) idle_cv.notify_all();
  }).detach();
  return call;
}

void RpcServer::Impl::Ended(bool session, const std::string& host) {
  std::lock_guard<std::mutex> lock(mu);
  if (session) {
    --calls;
  } else {
    --handshakes;
    if (--handshakes_by_host[host] == 0) handshakes_by_host.erase(host);
  }
}

StatusOr<std::unique_ptr<RpcServer>> RpcServer::Start(const std::string& listen,
                                                      const SecurityOptions& sec,
                                                      std::vector<RpcMethod> methods, Gate gate,
                                                      const RpcLimits& limits) {
  auto impl = std::make_unique<Impl>();
  impl->limits = limits;
  impl->gate = std::move(gate);
  for (RpcMethod& m : methods) {
    std::string name = m.name;
    impl->methods.emplace(std::move(name), std::move(m));
  }
  SL_ASSIGN_OR_RETURN(auto creds, MakeServerCredentials(sec));
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, creds, &impl->port);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);  // per method: RpcMethod's limit
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, limits.max_streams_per_connection);
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, limits.max_header_bytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, limits.idle_connection_ms);
  // A stranger's unread stream holds no more than the initial flow-control window: without
  // this, gRPC widens the window to the link's bandwidth-delay product, which on loopback let
  // refused streams park hundreds of MiB.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // The pool's keepalive pings (transport.h) are welcome: without this gRPC would call them
  // abuse and close the connection.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             kKeepaliveMs / 2);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.RegisterCallbackGenericService(impl.get());
  impl->server = builder.BuildAndStart();
  if (!impl->server || impl->port == 0)
    return InvalidArgument("cannot listen on " + listen +
                           " (address in use, or not an address of this host)");
  return std::unique_ptr<RpcServer>(new RpcServer(std::move(impl)));
}

RpcServer::RpcServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RpcServer::~RpcServer() { Shutdown(); }

int RpcServer::port() const { return impl_->port; }

void RpcServer::Wait() {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->stopped_cv.wait(lock, [&] { return impl_->stopped; });
}

void RpcServer::Shutdown() {
  {
    std::unique_lock<std::mutex> lock(impl_->mu);
    if (impl_->shut) {  // another thread is at it: wait for it to finish
      impl_->stopped_cv.wait(lock, [&] { return impl_->stopped; });
      return;
    }
    impl_->shut = true;
  }
  // Calls still running after a second are cancelled; their handlers see it and return.
  impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  {
    std::unique_lock<std::mutex> lock(impl_->mu);
    impl_->idle_cv.wait(lock, [&] { return impl_->threads == 0; });
  }
  impl_->server->Wait();
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->stopped = true;
  impl_->stopped_cv.notify_all();
}

}  // namespace suanli::cluster
