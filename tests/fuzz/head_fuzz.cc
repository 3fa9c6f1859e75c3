// libFuzzer target for what a head decodes from a worker that may lie: the worker's profile
// (JSON, from Authenticate), a BatchResult answering a known batch, and the handshake messages a
// worker's table takes from anyone (Hello, Authenticate), the revocation list a head hands over
// and a peer's certificate. Input: a selector byte, then the bytes.
// Every input must end as a value or an error; nothing may crash, read out of bounds or grow
// without bound.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "base/mapped_file.h"
#include "cluster/batch_codec.h"
#include "cluster/device_profile.h"
#include "cluster/pool_ca.h"
#include "cluster/session.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace v1 = suanli::cluster::v1;
  if (size < 1) return 0;
  const std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  static suanli::cluster::SessionTable* table = new suanli::cluster::SessionTable(
      std::make_shared<suanli::cluster::Credentials>("fuzz-pool-token-0123456789"));
  // A pool CA, for revocation lists signed by someone (or nobody).
  static const std::string ca_pem = [] {
    char dir[] = "/tmp/head-fuzz-XXXXXX";
    if (!mkdtemp(dir) || !suanli::cluster::PoolAuthority::Init(dir).ok()) return std::string();
    auto pem = suanli::ReadFileToString(std::string(dir) + "/ca.pem");
    return pem.ok() ? *pem : std::string();
  }();
  switch (data[0] % 6) {
    case 0:
      (void)suanli::ProfileFromJson(bytes);
      break;
    case 1: {
      // A batch of two steps, one sampling, and whatever the worker answered.
      suanli::StepBatch batch;
      batch.id = 7;
      batch.steps.resize(2);
      batch.steps[0].seq = 1;
      batch.steps[0].tokens = {1, 2};
      batch.steps[0].sample = true;
      batch.steps[1].seq = 2;
      batch.steps[1].tokens = {3};
      batch.steps[1].logits = suanli::LogitsWant::kLast;
      v1::BatchResult r;
      if (r.ParseFromString(bytes)) (void)suanli::cluster::OutputFromProto(std::move(r), batch, 32);
      break;
    }
    case 2: {
      v1::HelloRequest req;
      v1::HelloReply reply;
      if (req.ParseFromString(bytes)) (void)table->Challenge(req, "ipv4:10.0.0.1:1", "", &reply);
      break;
    }
    case 3: {
      v1::AuthenticateRequest req;
      if (req.ParseFromString(bytes)) (void)table->Accept(req, "ipv4:10.0.0.2:1", "");
      break;
    }
    case 4:  // what a head hands a worker in Authenticate
      (void)suanli::cluster::ReadRevocations(bytes, ca_pem);
      break;
    case 5:  // what TLS delivered as a peer's certificate
      (void)suanli::cluster::ReadCertificate(bytes);
      break;
  }
  return 0;
}
