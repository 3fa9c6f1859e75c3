#include "cluster/transport.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "base/mapped_file.h"

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
