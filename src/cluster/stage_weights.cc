#include "cluster/stage_weights.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "base/mapped_file.h"
#include "base/progress.h"
#include "cluster/model_cost.h"

namespace suanli::cluster {

namespace {

bool IsHex64(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c));
         });
}

struct Sha256 {
  Sha256() : ctx(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(ctx); }
  void Update(const void* p, size_t n) { EVP_DigestUpdate(ctx, p, n); }
  std::string Final() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx, md, &len);
    return std::string(reinterpret_cast<char*>(md), len);
  }
  EVP_MD_CTX* ctx;
};

}  // namespace

std::vector<std::string> StageTensorNames(const GgufFile& file, int64_t first, int64_t last,
                                          bool with_embedding, bool with_output) {
  const bool has_output = file.FindTensor("output.weight") != nullptr;
  std::vector<std::string> names;
  for (const GgufTensorInfo& t : file.tensors()) {
    const std::string_view n = t.name;
    const int64_t b = TensorLayer(n);
    bool need = false;
    if (b >= 0)
      need = b >= first && b < last;
    else if (n == "token_embd.weight")
      need = with_embedding || (with_output && !has_output);
    else if (n == "output_norm.weight" || n == "output.weight")
      need = with_output;
    else if (n == "rope_freqs.weight")
      need = true;
    if (need) names.emplace_back(n);
  }
  return names;
}

uint64_t TensorBytes(const GgufFile& file, const std::vector<std::string>& names) {
  uint64_t total = 0;
  for (const std::string& n : names)
    if (const GgufTensorInfo* t = file.FindTensor(n)) total += t->size_bytes;
  return total;
}

WeightStore::WeightStore(std::string cache_dir, std::vector<ModelFileInfo> local_models)
    : dir_(std::move(cache_dir) + "/weights"), local_(std::move(local_models)) {
  ::mkdir(dir_.c_str(), 0755);
}

std::string WeightStore::SparsePath(const std::string& sha256) const {
  return dir_ + "/" + sha256 + ".gguf";
}

std::vector<std::string> WeightStore::ReadHave(const std::string& sha256) const {
  std::vector<std::string> have;
  auto text = ReadFileToString(dir_ + "/" + sha256 + ".have");
  if (!text.ok()) return have;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_array()) return have;
  for (const auto& e : j)
    if (e.is_string()) have.push_back(e.get<std::string>());
  return have;
}

Status WeightStore::WriteHave(const std::string& sha256,
                              const std::vector<std::string>& have) const {
  const std::string text = nlohmann::json(have).dump();
  return WriteFileAtomic(dir_ + "/" + sha256 + ".have", text.data(), text.size());
}

StatusOr<WeightStore::Located> WeightStore::Locate(const std::string& sha256, uint64_t size,
                                                   int64_t first, int64_t last, bool with_embedding,
                                                   bool with_output) {
  if (!IsHex64(sha256)) return InvalidArgument("model_sha256 is not 64 hex digits");
  std::lock_guard<std::mutex> lock(mu_);
  Located loc;
  for (const ModelFileInfo& m : local_)
    if (m.sha256 == sha256 && m.size == size) {
      loc.path = m.path;
      loc.source = "model-dir";
      return loc;
    }
  const std::string sparse = SparsePath(sha256);
  struct stat st;
  if (::stat(sparse.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) != size) {
    loc.header_missing = true;
    return loc;
  }
  auto file = GgufFile::Open(sparse);
  if (!file.ok()) {
    loc.header_missing = true;  // a damaged cache: fetch again
    return loc;
  }
  const std::vector<std::string> have = ReadHave(sha256);
  const std::set<std::string> have_set(have.begin(), have.end());
  for (std::string& n : StageTensorNames(**file, first, last, with_embedding, with_output))
    if (!have_set.count(n)) loc.missing_tensors.push_back(std::move(n));
  if (loc.missing_tensors.empty()) {
    loc.path = sparse;
    loc.source = "cache";
  }
  return loc;
}

Status WeightStore::Receive(const std::function<bool(v1::WeightChunk*)>& read,
                            uint64_t* bytes_written) {
  std::lock_guard<std::mutex> lock(mu_);
  *bytes_written = 0;
  v1::WeightChunk c;
  if (!read(&c)) return InvalidArgument("PushWeights: empty stream");
  const std::string sha = c.model_sha256();
  if (!IsHex64(sha)) return InvalidArgument("PushWeights: model_sha256 is not 64 hex digits");
  const uint64_t size = c.model_size();
  if (size == 0 || size > (uint64_t{1} << 44))
    return InvalidArgument("PushWeights: model_size " + std::to_string(size) + " is out of range");
  const std::string path = SparsePath(sha);
  std::vector<std::string> have = ReadHave(sha);
  if (!c.header().empty()) {
    if (c.header().size() > size)
      return InvalidArgument("PushWeights: header larger than the model");
    // A new sparse file: header at 0, holes to the full size.
    const std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0) return IoError(tmp + ": " + std::strerror(errno));
    bool ok = ::ftruncate(fd, static_cast<off_t>(size)) == 0 &&
              ::pwrite(fd, c.header().data(), c.header().size(), 0) ==
                  static_cast<ssize_t>(c.header().size());
    ok = ::close(fd) == 0 && ok;
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) return IoError(path + ": cannot write");
    have.clear();
    SL_RETURN_IF_ERROR(WriteHave(sha, have));
  }
  SL_ASSIGN_OR_RETURN(auto file, GgufFile::Open(path));
  if (file->file_size() != size) return InvalidArgument(path + ": size differs from model_size");
  int fd = ::open(path.c_str(), O_WRONLY);
  if (fd < 0) return IoError(path + ": " + std::strerror(errno));
  std::unique_ptr<int, void (*)(int*)> closer(&fd, [](int* f) { ::close(*f); });
  std::set<std::string> have_set(have.begin(), have.end());
  const GgufTensorInfo* cur = nullptr;
  uint64_t received = 0;
  std::unique_ptr<Sha256> hash;
  Status result = Status::Ok();
  bool more = true;
  bool first_chunk = true;
  while (more) {
    if (!first_chunk && !read(&c)) break;
    first_chunk = false;
    if (c.tensor().empty() && c.data().empty()) continue;  // header-only chunk
    if (!cur || c.tensor() != cur->name) {
      if (cur)
        return InvalidArgument("PushWeights: tensor " + std::string(cur->name) +
                               " ended without its hash");
      cur = file->FindTensor(c.tensor());
      if (!cur) return InvalidArgument("PushWeights: unknown tensor '" + c.tensor() + "'");
      received = 0;
      hash = std::make_unique<Sha256>();
    }
    if (c.offset() != received || c.data().size() > cur->size_bytes - received)
      return InvalidArgument("PushWeights: chunk of " + c.tensor() + " at " +
                             std::to_string(c.offset()) + " is out of order or past its end");
    const uint64_t at = file->data_offset() + cur->offset + received;
    if (::pwrite(fd, c.data().data(), c.data().size(), static_cast<off_t>(at)) !=
        static_cast<ssize_t>(c.data().size()))
      return IoError(path + ": write failed: " + std::strerror(errno));
    hash->Update(c.data().data(), c.data().size());
    received += c.data().size();
    *bytes_written += c.data().size();
    if (!c.tensor_sha256().empty()) {
      if (received != cur->size_bytes)
        return InvalidArgument("PushWeights: " + c.tensor() + " ended after " +
                               std::to_string(received) + " of " + std::to_string(cur->size_bytes) +
                               " bytes");
      if (hash->Final() != c.tensor_sha256()) {
        result = InvalidArgument("PushWeights: hash mismatch for " + c.tensor() +
                                 " (corrupted in transit, or a different model)");
        break;
      }
      have_set.insert(c.tensor());
      cur = nullptr;
    }
  }
  if (::fdatasync(fd) != 0) result = IoError(path + ": sync failed");
  SL_RETURN_IF_ERROR(WriteHave(sha, std::vector<std::string>(have_set.begin(), have_set.end())));
  if (result.ok() && cur)
    return InvalidArgument("PushWeights: the stream ended inside tensor " + std::string(cur->name));
  return result;
}

Status PushWeights(v1::Worker::Stub& stub, const SecurityOptions& sec, const GgufFile& file,
                   const std::string& sha256, bool with_header,
                   const std::vector<std::string>& tensors, double link_bytes_per_second,
                   const std::string& worker_name) {
  for (const std::string& name : tensors)  // before the stream opens
    if (!file.FindTensor(name))
      return InvalidArgument("the worker asked for tensor '" + name + "', not in the model");
  const uint64_t total = TensorBytes(file, tensors) + (with_header ? file.data_offset() : 0);
  grpc::ClientContext ctx;
  PrepareContext(&ctx, sec, TransferDeadlineSeconds(total, link_bytes_per_second));
  v1::PushWeightsReply reply;
  auto writer = stub.PushWeights(&ctx, &reply);
  ProgressBar bar("weights → " + worker_name, total);
  v1::WeightChunk c;
  c.set_model_sha256(sha256);
  c.set_model_size(file.file_size());
  if (with_header) c.set_header(file.file_data(), file.data_offset());
  uint64_t sent = with_header ? file.data_offset() : 0;
  bool ok = true;
  if (with_header || tensors.empty()) ok = writer->Write(c);
  c.clear_header();
  constexpr size_t kChunk = 1 << 20;
  for (size_t i = 0; ok && i < tensors.size(); ++i) {
    const GgufTensorInfo* t = file.FindTensor(tensors[i]);
    Sha256 hash;  // over the chunks as they go: each byte is read once
    for (size_t off = 0; ok && (off < t->size_bytes || off == 0); off += kChunk) {
      const size_t n = std::min(kChunk, t->size_bytes - off);
      c.set_tensor(tensors[i]);
      c.set_offset(off);
      c.set_data(t->data + off, n);
      hash.Update(t->data + off, n);
      const bool last = off + n == t->size_bytes;
      if (last)
        c.set_tensor_sha256(hash.Final());
      else
        c.clear_tensor_sha256();
      ok = writer->Write(c);
      sent += n;
      bar.Update(sent);
      if (last) break;
    }
  }
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  bar.Finish();
  return FromGrpc(s, worker_name + ": weight transfer");
}

}  // namespace suanli::cluster
