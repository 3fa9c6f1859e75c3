#include "cluster/transport.h"

#include <algorithm>

#include "base/mapped_file.h"
#include "cluster/auth.h"

namespace suanli::cluster {

Status SecurityOptions::Validate() const {
  if (!tls()) return Status::Ok();
  if (tls_cert.empty() || tls_key.empty() || tls_ca.empty())
    return InvalidArgument("TLS needs all three: a certificate, its key and the CA");
  for (const std::string* f : {&tls_cert, &tls_key, &tls_ca}) {
    auto text = ReadFileToString(*f);
    if (!text.ok()) return text.status().WithContext("TLS");
  }
  return Status::Ok();
}

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

void SetDeadline(grpc::ClientContext* ctx, double seconds) {
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
}

Status FromGrpc(const grpc::Status& s, const std::string& what) {
  if (s.ok()) return Status::Ok();
  const std::string msg = what + ": " + s.error_message();
  switch (s.error_code()) {
    case grpc::StatusCode::CANCELLED:
      return Cancelled(msg);
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return DeadlineExceeded(what + ": no answer before the deadline");
    case grpc::StatusCode::UNAVAILABLE:
      return Unavailable(what + ": unreachable (" + s.error_message() + ")");
    case grpc::StatusCode::UNAUTHENTICATED:
      return Unauthenticated(what + ": rejected the pool token (" + s.error_message() + ")");
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

std::string HostOf(const std::string& peer) {
  const size_t colon = peer.rfind(':');
  return colon == std::string::npos ? peer : peer.substr(0, colon);
}

double TransferDeadlineSeconds(uint64_t bytes, double bytes_per_second) {
  // A quarter of the measured bandwidth (links fluctuate); unmeasured: 1 MB/s.
  const double bw = bytes_per_second > 0 ? std::max(1e4, bytes_per_second / 4) : 1e6;
  return 30.0 + static_cast<double>(bytes) / bw;
}

}  // namespace suanli::cluster
