// Weights for a pipeline stage, without manual copying.
//
// A worker that holds the model file (found by content hash in --model-dir) maps it. Otherwise the
// head streams exactly the tensors of the worker's layers (PushWeights) and the worker keeps them
// in a sparse copy of the model, <cache>/weights/<sha256>.gguf: the original header, then each
// received tensor at its original offset and holes elsewhere, so the file maps and binds like the
// real one while disk and RAM hold only the stage's layers. <sha256>.have records the SHA-256 the
// worker computed of the header and of every tensor that arrived whole; a restart (or a later
// stage of other layers) fetches only what is missing.
//
// Nothing the sender says about the bytes is trusted: LoadStage carries the digests the head
// computed from its own file, and a cached header or tensor counts only when the worker's record
// equals them (a push under the real model's hash with other bytes is cached under its own hash
// and never used for that head). A tensor that a running stage maps is never overwritten, pushes
// never hold the store's lock while they wait on the network, a failed push that created a copy
// leaves no file, and the cache stays under a disk quota.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "cluster/device_profile.h"
#include "cluster/session.h"
#include "cluster/transport.h"
#include "gguf/gguf.h"
#include "suanli/cluster/v1/worker.pb.h"
#include "suanli/status.h"

namespace suanli::cluster {

// Tensors a stage running layers [first, last) reads: blk.N.* for N in the range, the embedding
// (first stage, or the last one when the output is tied), output_norm and output (last stage),
// and rope_freqs (every stage).
std::vector<std::string> StageTensorNames(const GgufFile& file, int64_t first, int64_t last,
                                          bool with_embedding, bool with_output);
// Sum of their byte sizes.
uint64_t TensorBytes(const GgufFile& file, const std::vector<std::string>& names);

// What a stage's bytes must hash to (raw SHA-256, 32 bytes each).
struct StageDigests {
  std::string header;                          // the GGUF bytes before the data section
  std::map<std::string, std::string> tensors;  // by tensor name
};
// The digests of the header and every tensor of `file` (reads the whole data section).
StageDigests FileDigests(const GgufFile& file);
// The same, kept in <cache_dir>/tensor-digests/<sha256>.json for the file whose content hash is
// `sha256` (about 0.5 s per GB saved on every later start).
StageDigests FileDigestsCached(const GgufFile& file, const std::string& sha256,
                               const std::string& cache_dir);

// The worker's side.
class WeightStore {
 public:
  // quota_bytes: disk the cached copies may take (0: the cache's free disk space less 1 GiB).
  WeightStore(std::string cache_dir, std::vector<ModelFileInfo> local_models,
              uint64_t quota_bytes = 0);

  struct Located {
    std::string path;    // set when every tensor is present
    std::string source;  // "model-dir" or "cache"
    bool header_missing = false;
    std::vector<std::string> missing_tensors;
    // Held while a stage maps the cached copy: its tensors are not overwritten meanwhile.
    std::shared_ptr<void> in_use;
  };
  // Where the stage's weights are, or what is missing. `expected` must name every tensor of
  // the stage (InvalidArgument otherwise); cached bytes whose recorded digest differs are missing.
  StatusOr<Located> Locate(const std::string& sha256, uint64_t size, int64_t first, int64_t last,
                           bool with_embedding, bool with_output, const StageDigests& expected);
  // Consumes one PushWeights stream. `read` returns false at the end of the stream. Errors: a
  // chunk out of order or beyond its tensor, an unknown tensor, a tensor that does not hash to
  // what its last chunk says (corrupted in transit: not recorded), a header that does not parse
  // or a model_size it does not explain, a tensor a running stage maps or another push is
  // writing, the quota, a write failure.
  Status Receive(const std::function<bool(v1::WeightChunk*)>& read, uint64_t* bytes_written);
  uint64_t quota_bytes() const;

 private:
  struct Have {  // <sha256>.have: the worker's own digests of what the copy holds
    std::string header;
    std::map<std::string, std::string> tensors;
  };
  std::string SparsePath(const std::string& sha256) const;
  Have ReadHave(const std::string& sha256) const;
  Status WriteHave(const std::string& sha256, const Have& have) const;
  uint64_t CacheBytesOnDisk() const;

  std::string dir_;
  std::vector<ModelFileInfo> local_;
  uint64_t quota_ = 0;
  // Guards the .have files, in_use_ and writing_; never held while a push reads the network.
  mutable std::mutex mu_;
  // (model sha256, inode of its copy) → stages mapping that copy. A copy replaced by a new one
  // (a header push) stays mapped by its stages; only the current one is written.
  std::map<std::pair<std::string, uint64_t>, int> in_use_;
  // (model sha256, tensor) being pushed; tensor "" is a new copy's header.
  std::set<std::pair<std::string, std::string>> writing_;
};

// The head's side: streams `tensors` of `file` (and the header when asked) in 1 MiB chunks with
// a progress bar, under a deadline scaled to the bytes and the link's bandwidth.
Status PushWeights(Channel& ch, ClientSession& session, const GgufFile& file,
                   const std::string& sha256, bool with_header,
                   const std::vector<std::string>& tensors, double link_bytes_per_second,
                   const std::string& worker_name);

}  // namespace suanli::cluster
