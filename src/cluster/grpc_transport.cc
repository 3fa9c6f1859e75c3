#include "cluster/grpc_transport.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/impl/codegen/proto_utils.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "base/mapped_file.h"
#include "cluster/rpc_server.h"

namespace suanli::cluster {

StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& address,
                                                     const SecurityOptions& sec) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);  // keep pinging an idle stream
  // Each channel its own TCP connection: a pipeline's streams do not queue behind probes.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (sec.tls()) {
    grpc::SslCredentialsOptions o;
    SL_ASSIGN_OR_RETURN(o.pem_root_certs, ReadFileToString(sec.tls_ca));
    SL_ASSIGN_OR_RETURN(o.pem_private_key, ReadFileToString(sec.tls_key));
    SL_ASSIGN_OR_RETURN(o.pem_cert_chain, ReadFileToString(sec.tls_cert));
    creds = grpc::SslCredentials(o);
    // Pool certificates name the pool, not an address (pool_ca.h).
    if (!sec.tls_server_name.empty()) args.SetSslTargetNameOverride(sec.tls_server_name);
  } else {
    creds = grpc::InsecureChannelCredentials();
  }
  auto ch = grpc::CreateCustomChannel(address, creds, args);
  if (!ch) return InvalidArgument(address + ": cannot create a channel");
  return ch;
}

StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const SecurityOptions& sec) {
  if (!sec.tls()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions o(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  SL_ASSIGN_OR_RETURN(o.pem_root_certs, ReadFileToString(sec.tls_ca));
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  SL_ASSIGN_OR_RETURN(pair.private_key, ReadFileToString(sec.tls_key));
  SL_ASSIGN_OR_RETURN(pair.cert_chain, ReadFileToString(sec.tls_cert));
  o.pem_key_cert_pairs.push_back(pair);
  return grpc::SslServerCredentials(o);
}

std::string PeerCertificate(const grpc::AuthContext* ac) {
  if (!ac) return "";
  const auto v = ac->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  return v.empty() ? "" : std::string(v.front().data(), v.front().size());
}

void SetDeadline(grpc::ClientContext* ctx, double seconds) {
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
}

Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return Status::Ok();
  const std::string& msg = s.error_message();
  switch (s.error_code()) {
    case grpc::StatusCode::CANCELLED:
      return Cancelled(msg);
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return DeadlineExceeded("no answer before the deadline");
    case grpc::StatusCode::UNAVAILABLE:
      return Unavailable("unreachable (" + msg + ")");
    case grpc::StatusCode::UNAUTHENTICATED:
      return Unauthenticated("refused to authenticate us (" + msg + ")");
    case grpc::StatusCode::PERMISSION_DENIED:
      return PermissionDenied(msg);
    case grpc::StatusCode::INVALID_ARGUMENT:
      return InvalidArgument(msg);
    case grpc::StatusCode::FAILED_PRECONDITION:
      return FailedPrecondition(msg);
    case grpc::StatusCode::NOT_FOUND:
      return NotFound(msg);
    case grpc::StatusCode::OUT_OF_RANGE:
      return OutOfRange(msg);
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return ResourceExhausted(msg);
    case grpc::StatusCode::UNIMPLEMENTED:
      return Unimplemented(msg);
    case grpc::StatusCode::ABORTED:
      return Aborted(msg);
    default:
      return Internal(msg);
  }
}

grpc::Status ToGrpc(const Status& s) {
  if (s.ok()) return grpc::Status::OK;
  grpc::StatusCode c = grpc::StatusCode::INTERNAL;
  switch (s.code()) {
    case StatusCode::kOk:
      break;
    case StatusCode::kInvalidArgument:
      c = grpc::StatusCode::INVALID_ARGUMENT;
      break;
    case StatusCode::kNotFound:
      c = grpc::StatusCode::NOT_FOUND;
      break;
    case StatusCode::kOutOfRange:
      c = grpc::StatusCode::OUT_OF_RANGE;
      break;
    case StatusCode::kUnimplemented:
      c = grpc::StatusCode::UNIMPLEMENTED;
      break;
    case StatusCode::kResourceExhausted:
      c = grpc::StatusCode::RESOURCE_EXHAUSTED;
      break;
    case StatusCode::kIoError:
    case StatusCode::kInternal:
      c = grpc::StatusCode::INTERNAL;
      break;
    case StatusCode::kCancelled:
      c = grpc::StatusCode::CANCELLED;
      break;
    case StatusCode::kDeadlineExceeded:
      c = grpc::StatusCode::DEADLINE_EXCEEDED;
      break;
    case StatusCode::kUnavailable:
      c = grpc::StatusCode::UNAVAILABLE;
      break;
    case StatusCode::kAborted:
      c = grpc::StatusCode::ABORTED;
      break;
    case StatusCode::kUnauthenticated:
      c = grpc::StatusCode::UNAUTHENTICATED;
      break;
    case StatusCode::kPermissionDenied:
      c = grpc::StatusCode::PERMISSION_DENIED;
      break;
    case StatusCode::kFailedPrecondition:
      c = grpc::StatusCode::FAILED_PRECONDITION;
      break;
  }
  return grpc::Status(c, s.message());
}

namespace {

using Serializer = grpc::SerializationTraits<google::protobuf::MessageLite>;

void Prepare(grpc::ClientContext* ctx, const CallOptions& o) {
  for (const auto& [k, v] : o.headers) ctx->AddMetadata(k, v);
  if (o.seconds > 0) SetDeadline(ctx, o.seconds);
}

// A stream as blocking calls over gRPC's callback reactor: each operation starts, then waits
// for its callback. A hold keeps the reactor alive (OnDone waits) until Finish or the
// destructor, so no operation can start on a finished reactor.
class GrpcStream final : public ClientStream,
                         public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  GrpcStream(grpc::GenericStub& stub, std::string_view method, const CallOptions& o) {
    Prepare(&ctx_, o);
    stub.PrepareBidiStreamingCall(&ctx_, std::string(kServicePrefix) + std::string(method),
                                  grpc::StubOptions(), this);
    AddHold();
    StartCall();
  }
  ~GrpcStream() override {
    ctx_.TryCancel();
    (void)Finish();
  }

  bool WaitForHeaders() override {
    std::unique_lock<std::mutex> lock(ops_.mu);
    ops_.cv.wait(lock, [&] { return headers_done_ || done_; });
    return headers_ok_;
  }
  bool Write(const google::protobuf::MessageLite& m) override {
    bool own = false;
    out_.Clear();  // the last write's bytes were sent
    if (!Serializer::Serialize(m, &out_, &own).ok()) return false;
    if (!ops_.Begin(&writing_, [&] { return released_; })) return false;
    StartWrite(&out_);
    return ops_.Wait(&writing_);
  }
  bool Read(google::protobuf::MessageLite* m) override {
    if (!ops_.Begin(&reading_, [&] { return released_; })) return false;
    in_.Clear();
    StartRead(&in_);
    if (!ops_.Wait(&reading_)) return false;
    if (Serializer::Deserialize(&in_, m).ok()) return true;  // in_ is taken apart
    {
      std::lock_guard<std::mutex> lock(ops_.mu);
      unparsed_ = true;
    }
    ctx_.TryCancel();
    return false;
  }
  bool WritesDone() override {
    if (!ops_.Begin(&writing_, [&] { return released_; })) return false;
    StartWritesDone();
    return ops_.Wait(&writing_);
  }
  Status Finish() override {
    {
      std::unique_lock<std::mutex> lock(ops_.mu);
      if (!released_) {
        released_ = true;
        lock.unlock();
        RemoveHold();
        lock.lock();
      }
      ops_.cv.wait(lock, [&] { return done_; });
      if (unparsed_) return Internal("a message that does not parse");
    }
    return FromGrpc(status_);
  }
  void Cancel() override { ctx_.TryCancel(); }

  void OnReadInitialMetadataDone(bool ok) override {
    {
      std::lock_guard<std::mutex> lock(ops_.mu);
      headers_done_ = true;
      headers_ok_ = ok;
    }
    ops_.cv.notify_all();
  }
  void OnReadDone(bool ok) override { ops_.Done(&reading_, ok); }
  void OnWriteDone(bool ok) override { ops_.Done(&writing_, ok); }
  void OnWritesDoneDone(bool ok) override { ops_.Done(&writing_, ok); }
  void OnDone(const grpc::Status& s) override {
    {
      std::lock_guard<std::mutex> lock(ops_.mu);
      status_ = s;
      done_ = true;
    }
    ops_.cv.notify_all();
  }

 private:
  grpc::ClientContext ctx_;
  grpc::ByteBuffer in_, out_;
  ReactorOps ops_;
  ReactorOps::Op reading_, writing_;
  bool headers_done_ = false, headers_ok_ = false;
  bool released_ = false;  // the hold is gone: no more operations
  bool unparsed_ = false;  // Read got bytes that are not the message: the call was cancelled
  bool done_ = false;
  grpc::Status status_;
};

class GrpcChannel final : public Channel {
 public:
  GrpcChannel(std::string address, std::shared_ptr<grpc::Channel> ch)
      : address_(std::move(address)), channel_(std::move(ch)), stub_(channel_) {}
  const std::string& address() const override { return address_; }

  Status Call(std::string_view method, const CallOptions& o,
              const google::protobuf::MessageLite& request,
              google::protobuf::MessageLite* reply) override {
    grpc::ByteBuffer req, rep;
    bool own = false;
    if (!Serializer::Serialize(request, &req, &own).ok())
      return InvalidArgument(std::string(method) + ": the request does not serialize");
    grpc::ClientContext ctx;
    Prepare(&ctx, o);
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    grpc::Status status;
    stub_.UnaryCall(&ctx, std::string(kServicePrefix) + std::string(method), grpc::StubOptions(),
                    &req, &rep, [&](grpc::Status s) {
                      std::lock_guard<std::mutex> lock(mu);
                      status = std::move(s);
                      done = true;
                      cv.notify_all();
                    });
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return done; });
    }
    if (o.peer_certificate) *o.peer_certificate = PeerCertificate(ctx.auth_context().get());
    if (!status.ok()) return FromGrpc(status);
    if (!Serializer::Deserialize(&rep, reply).ok())
      return Internal(std::string(method) + ": a reply that does not parse");
    return Status::Ok();
  }
  std::unique_ptr<ClientStream> Open(std::string_view method, const CallOptions& o) override {
    return std::make_unique<GrpcStream>(stub_, method, o);
  }

 private:
  std::string address_;
  std::shared_ptr<grpc::Channel> channel_;
  grpc::GenericStub stub_;
};

}  // namespace

StatusOr<std::shared_ptr<Channel>> GrpcTransport::Dial(const std::string& address) {
  SL_RETURN_IF_ERROR(CheckLinkProtection(address, sec_));
  SL_ASSIGN_OR_RETURN(auto ch, MakeChannel(address, sec_));
  return std::shared_ptr<Channel>(std::make_shared<GrpcChannel>(address, std::move(ch)));
}

StatusOr<std::unique_ptr<Server>> GrpcTransport::Serve(const std::string& listen,
                                                       std::vector<RpcMethod> methods, Gate gate,
                                                       const RpcLimits& limits) {
  SL_RETURN_IF_ERROR(CheckLinkProtection(listen, sec_));
  SL_ASSIGN_OR_RETURN(auto server,
                      RpcServer::Start(listen, sec_, std::move(methods), std::move(gate), limits));
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace suanli::cluster
