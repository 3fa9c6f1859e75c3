#include "cluster/transport.h"

#include <sys/stat.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "base/mapped_file.h"
#include "base/net_address.h"
#include "cluster/auth.h"
#include "cluster/pool_ca.h"

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

StatusOr<SecurityOptions> SecurityOptions::FromPoolDir(const std::string& dir) {
  SecurityOptions s;
  for (const char* f : {"token", "cert.pem", "key.pem", "ca.pem", "crl.pem"}) {
    struct stat st;
    if (::stat((dir + "/" + f).c_str(), &st) != 0)
      return NotFound(dir + " holds no " + f +
                      " (make a pool with `suanli pool init`, or a device's bundle with "
                      "`suanli pool enroll`)");
  }
  SL_ASSIGN_OR_RETURN(s.token, ResolvePoolToken("", dir + "/token"));
  s.tls_cert = dir + "/cert.pem";
  s.tls_key = dir + "/key.pem";
  s.tls_ca = dir + "/ca.pem";
  s.tls_crl = dir + "/crl.pem";
  s.tls_server_name = kPoolServerName;
  return s;
}

Status CheckLinkProtection(const std::string& address, const SecurityOptions& sec) {
  if (sec.tls() || IsLoopbackHost(HostOfAddress(address))) return Status::Ok();
  if (!sec.allow_plaintext_remote)
    return PermissionDenied(
        address +
        " is not a loopback address, and the link would be plain TCP: anyone on the network "
        "could read the prompts, activations and outputs. Give every node the pool's "
        "certificates (suanli pool init, then suanli pool enroll), or allow plain TCP explicitly");
  static std::atomic<bool> warned{false};
  if (!warned.exchange(true))
    std::fprintf(stderr,
                 "suanli: warning: plain TCP to or from %s: the pool's traffic is not encrypted\n",
                 address.c_str());
  return Status::Ok();
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

Status FinishWithin(ClientStream& s, double seconds, bool writes_done,
                    google::protobuf::MessageLite* reply) {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread timer([&] {
    std::unique_lock<std::mutex> lock(mu);
    if (!cv.wait_for(lock, std::chrono::duration<double>(seconds), [&] { return done; }))
      s.Cancel();
  });
  if (writes_done) (void)s.WritesDone();
  if (reply) (void)s.Read(reply);
  Status st = s.Finish();
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  cv.notify_all();
  timer.join();
  return st;
}

}  // namespace suanli::cluster
