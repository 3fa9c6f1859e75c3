// Weights for a pipeline stage, without manual copying.
//
// A worker that holds the model file (found by content hash in --model-dir) maps it. Otherwise the
// head streams exactly the tensors of the worker's layers (PushWeights) and the worker keeps them
// in a sparse copy of the model, <cache>/weights/<sha256>.gguf: the original header, then each
// received tensor at its original offset and holes elsewhere, so the file maps and binds like the
// real one while disk and RAM hold only the stage's layers. <sha256>.have lists the tensors that
// arrived whole and matched their SHA-256; a restart (or a later stage of other layers) fetches
// only what is missing.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "cluster/device_profile.h"
#include "cluster/transport.h"
#include "gguf/gguf.h"
#include "suanli/cluster/v1/worker.grpc.pb.h"
#include "suanli/status.h"

namespace suanli::cluster {

// Tensors a stage running layers [first, last) reads: blk.N.* for N in the range, the embedding
// (first stage, or the last one when the output is tied), output_norm and output (last stage),
// and rope_freqs (every stage).
std::vector<std::string> StageTensorNames(const GgufFile& file, int64_t first, int64_t last,
                                          bool with_embedding, bool with_output);
// Sum of their byte sizes.
uint64_t TensorBytes(const GgufFile& file, const std::vector<std::string>& names);

// The worker's side.
class WeightStore {
 public:
  WeightStore(std::string cache_dir, std::vector<ModelFileInfo> local_models);

  struct Located {
    std::string path;    // set when every tensor is present
    std::string source;  // "model-dir" or "cache"
    bool header_missing = false;
    std::vector<std::string> missing_tensors;
  };
  // Where the stage's weights are, or what is missing.
  StatusOr<Located> Locate(const std::string& sha256, uint64_t size, int64_t first, int64_t last,
                           bool with_embedding, bool with_output);
  // Consumes one PushWeights stream. `read` returns false at the end of the stream. Errors: a
  // chunk out of order or beyond its tensor, an unknown tensor, a SHA-256 mismatch (the tensor
  // is not recorded), a header that does not parse, a write failure.
  Status Receive(const std::function<bool(v1::WeightChunk*)>& read, uint64_t* bytes_written);

 private:
  std::string SparsePath(const std::string& sha256) const;
  std::vector<std::string> ReadHave(const std::string& sha256) const;
  Status WriteHave(const std::string& sha256, const std::vector<std::string>& have) const;

  std::string dir_;
  std::vector<ModelFileInfo> local_;
  std::mutex mu_;  // one transfer at a time
};

// The head's side: streams `tensors` of `file` (and the header when asked) in 1 MiB chunks with
// a progress bar, under a deadline scaled to the bytes and the link's bandwidth.
Status PushWeights(v1::Worker::Stub& stub, const SecurityOptions& sec, const GgufFile& file,
                   const std::string& sha256, bool with_header,
                   const std::vector<std::string>& tensors, double link_bytes_per_second,
                   const std::string& worker_name);

}  // namespace suanli::cluster
