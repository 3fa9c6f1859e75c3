#include "cluster/stage_weights.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "base/mapped_file.h"
#include "base/progress.h"
#include "cluster/auth.h"
#include "model/tensor_names.h"

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
  const bool tied = tensor_names::OutputTied(file);
  std::vector<std::string> names;
  for (const GgufTensorInfo& t : file.tensors()) {
    const std::string_view n = t.name;
    const bool need = tensor_names::StageNeeds(n, tied, first, last, with_embedding, with_output);
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

StageDigests FileDigests(const GgufFile& file) {
  StageDigests d;
  Sha256 h;
  h.Update(file.file_data(), file.data_offset());
  d.header = h.Final();
  for (const GgufTensorInfo& t : file.tensors()) {
    Sha256 th;
    th.Update(t.data, t.size_bytes);
    d.tensors.emplace(t.name, th.Final());
  }
  return d;
}

namespace {

std::string Unhex(const nlohmann::json& v) {
  if (!v.is_string() || !IsHex64(v.get<std::string>())) return "";
  const std::string hex = v.get<std::string>();
  std::string raw;
  for (size_t i = 0; i < hex.size(); i += 2)
    raw += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return raw;
}

nlohmann::json DigestsToJson(const std::string& header,
                             const std::map<std::string, std::string>& tensors) {
  nlohmann::json j = {{"header", ToHex(header)}, {"tensors", nlohmann::json::object()}};
  for (const auto& [name, digest] : tensors) j["tensors"][name] = ToHex(digest);
  return j;
}

// Reads DigestsToJson's output; entries that are not 64 hex digits are left out.
void DigestsFromJson(const nlohmann::json& j, std::string* header,
                     std::map<std::string, std::string>* tensors) {
  if (!j.is_object()) return;
  if (j.contains("header")) *header = Unhex(j["header"]);
  if (j.contains("tensors") && j["tensors"].is_object())
    for (const auto& [name, v] : j["tensors"].items())
      if (std::string raw = Unhex(v); !raw.empty()) (*tensors)[name] = raw;
}

}  // namespace

StageDigests FileDigestsCached(const GgufFile& file, const std::string& sha256,
                               const std::string& cache_dir) {
  const std::string dir = cache_dir + "/tensor-digests";
  const std::string path = dir + "/" + sha256 + ".json";
  if (IsHex64(sha256) && !cache_dir.empty()) {
    if (auto text = ReadFileToString(path); text.ok()) {
      StageDigests d;
      DigestsFromJson(nlohmann::json::parse(*text, nullptr, false), &d.header, &d.tensors);
      bool complete = !d.header.empty() && d.tensors.size() == file.tensors().size();
      for (const GgufTensorInfo& t : file.tensors())
        complete = complete && d.tensors.count(std::string(t.name));
      if (complete) return d;
    }
  }
  StageDigests d = FileDigests(file);
  if (IsHex64(sha256) && !cache_dir.empty()) {
    ::mkdir(dir.c_str(), 0755);
    const std::string text = DigestsToJson(d.header, d.tensors).dump();
    (void)WriteFileAtomic(path, text.data(), text.size());  // a cache: failure is harmless
  }
  return d;
}

WeightStore::WeightStore(std::string cache_dir, std::vector<ModelFileInfo> local_models,
                         uint64_t quota_bytes)
    : dir_(std::move(cache_dir) + "/weights"),
      local_(std::move(local_models)),
      quota_(quota_bytes) {
  std::error_code ec;  // a cache directory not made yet (its parents too); failing, pushes fail
  std::filesystem::create_directories(dir_, ec);
}

std::string WeightStore::SparsePath(const std::string& sha256) const {
  return dir_ + "/" + sha256 + ".gguf";
}

WeightStore::Have WeightStore::ReadHave(const std::string& sha256) const {
  Have have;
  auto text = ReadFileToString(dir_ + "/" + sha256 + ".have");
  if (!text.ok()) return have;
  // An older list of names without digests reads as empty: those tensors are fetched again.
  DigestsFromJson(nlohmann::json::parse(*text, nullptr, false), &have.header, &have.tensors);
  return have;
}

Status WeightStore::WriteHave(const std::string& sha256, const Have& have) const {
  const std::string text = DigestsToJson(have.header, have.tensors).dump();
  return WriteFileAtomic(dir_ + "/" + sha256 + ".have", text.data(), text.size());
}

uint64_t WeightStore::CacheBytesOnDisk() const {
  uint64_t total = 0;
  DIR* d = ::opendir(dir_.c_str());
  if (!d) return 0;
  while (dirent* e = ::readdir(d)) {
    struct stat st;
    if (::stat((dir_ + "/" + e->d_name).c_str(), &st) == 0 && S_ISREG(st.st_mode))
      total += static_cast<uint64_t>(st.st_blocks) * 512;  // allocated, not the sparse size
  }
  ::closedir(d);
  return total;
}

uint64_t WeightStore::quota_bytes() const {
  if (quota_ > 0) return quota_;
  struct statvfs vfs;
  if (::statvfs(dir_.c_str(), &vfs) != 0) return 0;
  const uint64_t free_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  constexpr uint64_t kReserve = uint64_t{1} << 30;  // the disk is not ours to fill
  return CacheBytesOnDisk() + (free_bytes > kReserve ? free_bytes - kReserve : 0);
}

StatusOr<WeightStore::Located> WeightStore::Locate(const std::string& sha256, uint64_t size,
                                                   int64_t first, int64_t last, bool with_embedding,
                                                   bool with_output, const StageDigests& expected) {
  if (!IsHex64(sha256)) return InvalidArgument("model_sha256 is not 64 hex digits");
  Located loc;
  for (const ModelFileInfo& m : local_)
    if (m.sha256 == sha256 && m.size == size) {
      // This worker hashed the whole file itself: every byte is the model's.
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
  std::lock_guard<std::mutex> lock(mu_);
  const Have have = ReadHave(sha256);
  struct stat now;
  if (!file.ok() || have.header.empty() || !SecureEquals(have.header, expected.header) ||
      ::stat(sparse.c_str(), &now) != 0 || now.st_ino != st.st_ino) {
    loc.header_missing = true;  // damaged, not this head's model, or replaced: fetch again
    return loc;
  }
  const std::pair<std::string, uint64_t> copy{sha256, static_cast<uint64_t>(st.st_ino)};
  bool conflict = false;  // a tensor holds other bytes, and a running stage maps them
  for (std::string& n : StageTensorNames(**file, first, last, with_embedding, with_output)) {
    auto want = expected.tensors.find(n);
    if (want == expected.tensors.end())
      return InvalidArgument("LoadStage: no expected SHA-256 for tensor " + n);
    auto got = have.tensors.find(n);
    if (got == have.tensors.end() || !SecureEquals(got->second, want->second) ||
        writing_.count({sha256, n})) {
      if (got != have.tensors.end() && in_use_.count(copy)) conflict = true;
      loc.missing_tensors.push_back(std::move(n));
    }
  }
  if (conflict) {
    // Those bytes cannot be overwritten under the stage (another head's, or a poisoner's that
    // it keeps fed): this head pushes a new copy, which the old one's stages never see.
    loc.missing_tensors.clear();
    loc.header_missing = true;
    return loc;
  }
  if (loc.missing_tensors.empty()) {
    loc.path = sparse;
    loc.source = "cache";
    ++in_use_[copy];
    loc.in_use = std::shared_ptr<void>(new char, [this, copy](void* p) {
      delete static_cast<char*>(p);
      std::lock_guard<std::mutex> l(mu_);
      if (--in_use_[copy] <= 0) in_use_.erase(copy);
    });
  }
  return loc;
}

Status WeightStore::Receive(const std::function<bool(v1::WeightChunk*)>& read,
                            uint64_t* bytes_written) {
  *bytes_written = 0;
  v1::WeightChunk c;
  if (!read(&c)) return InvalidArgument("PushWeights: empty stream");
  const std::string sha = c.model_sha256();
  if (!IsHex64(sha)) return InvalidArgument("PushWeights: model_sha256 is not 64 hex digits");
  const uint64_t size = c.model_size();
  const std::string path = SparsePath(sha);
  const uint64_t quota = quota_bytes();
  if (size == 0 || size > quota)
    return ResourceExhausted("PushWeights: a model of " + HumanBytes(static_cast<double>(size)) +
                             " does not fit the weight cache's quota of " +
                             HumanBytes(static_cast<double>(quota)) + " (--cache-quota)");
  // Everything this push marked as being written is unmarked however it ends; a copy it
  // created is removed unless a tensor made it in.
  std::set<std::pair<std::string, std::string>> mine;
  bool created = false, recorded = false;
  struct Cleanup {
    WeightStore* self;
    const std::string& sha;
    std::set<std::pair<std::string, std::string>>& mine;
    const bool& created;
    const bool& recorded;
    ~Cleanup() {
      std::lock_guard<std::mutex> lock(self->mu_);
      for (const auto& k : mine) self->writing_.erase(k);
      if (created && !recorded) {
        ::unlink(self->SparsePath(sha).c_str());
        ::unlink((self->dir_ + "/" + sha + ".have").c_str());
      }
    }
  } cleanup{this, sha, mine, created, recorded};

  if (!c.header().empty()) {
    if (c.header().size() > size)
      return InvalidArgument("PushWeights: header larger than the model");
    // A new sparse copy: header at 0, holes to the full size; renamed into place, so stages
    // mapping the old copy keep it.
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& k : writing_)
      if (k.first == sha)
        return Unavailable("PushWeights: another push of this model is in progress; retry");
    const std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0) return IoError(tmp + ": " + std::strerror(errno));
    bool ok = ::ftruncate(fd, static_cast<off_t>(size)) == 0 &&
              ::pwrite(fd, c.header().data(), c.header().size(), 0) ==
                  static_cast<ssize_t>(c.header().size());
    ok = ::close(fd) == 0 && ok;
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
      ::unlink(tmp.c_str());
      return IoError(path + ": cannot write");
    }
    created = true;
    mine.insert({sha, ""});
    writing_.insert({sha, ""});
    Sha256 h;
    h.Update(c.header().data(), c.header().size());
    Have have;
    have.header = h.Final();
    SL_RETURN_IF_ERROR(WriteHave(sha, have));
  }
  SL_ASSIGN_OR_RETURN(auto file, GgufFile::Open(path));
  if (file->file_size() != size) return InvalidArgument(path + ": size differs from model_size");
  uint64_t extent = file->data_offset();  // where the last tensor ends
  for (const GgufTensorInfo& t : file->tensors())
    extent = std::max<uint64_t>(extent, file->data_offset() + t.offset + t.size_bytes);
  if (size > extent + file->alignment())
    return InvalidArgument("PushWeights: model_size " + std::to_string(size) +
                           " is more than the header's tensors take (" + std::to_string(extent) +
                           " bytes)");
  int fd = ::open(path.c_str(), O_WRONLY);
  if (fd < 0) return IoError(path + ": " + std::strerror(errno));
  std::unique_ptr<int, void (*)(int*)> closer(&fd, [](int* f) { ::close(*f); });
  struct stat fst;
  if (::fstat(fd, &fst) != 0) return IoError(path + ": " + std::strerror(errno));

  // Tensors that arrived whole: recorded after a sync, every 64 MiB and at the end.
  std::map<std::string, std::string> done;
  uint64_t done_bytes = 0;
  auto record = [&]() -> Status {
    if (done.empty()) return Status::Ok();
    if (::fdatasync(fd) != 0) return IoError(path + ": sync failed");
    std::lock_guard<std::mutex> lock(mu_);
    struct stat now;
    if (::stat(path.c_str(), &now) != 0 || now.st_ino != fst.st_ino)
      return Unavailable("PushWeights: the cached copy was replaced meanwhile; retry");
    Have have = ReadHave(sha);
    for (auto& [name, digest] : done) {
      have.tensors[name] = digest;
      mine.erase({sha, name});
      writing_.erase({sha, name});
    }
    done.clear();
    done_bytes = 0;
    recorded = true;
    return WriteHave(sha, have);
  };

  const GgufTensorInfo* cur = nullptr;
  uint64_t received = 0;
  std::unique_ptr<Sha256> hash;
  Status result = Status::Ok();
  bool first_chunk = true;
  for (;;) {
    if (!first_chunk && !read(&c)) break;  // no lock held while waiting on the network
    first_chunk = false;
    if (c.tensor().empty() && c.data().empty()) continue;  // header-only chunk
    if (!cur || c.tensor() != cur->name) {
      if (cur) {
        result = InvalidArgument("PushWeights: tensor " + std::string(cur->name) +
                                 " ended without its hash");
        break;
      }
      cur = file->FindTensor(c.tensor());
      if (!cur) {
        result = InvalidArgument("PushWeights: unknown tensor '" + c.tensor() + "'");
        break;
      }
      std::lock_guard<std::mutex> lock(mu_);
      Have have = ReadHave(sha);
      if (writing_.count({sha, c.tensor()})) {
        result = Unavailable("PushWeights: another push is writing " + c.tensor() + "; retry");
        break;
      }
      if (in_use_.count({sha, static_cast<uint64_t>(fst.st_ino)}) &&
          have.tensors.count(c.tensor())) {
        result = FailedPrecondition("PushWeights: " + c.tensor() +
                                    " is mapped by a running stage and is not replaced");
        break;
      }
      if (CacheBytesOnDisk() + cur->size_bytes > quota) {
        result = ResourceExhausted("PushWeights: " + c.tensor() + " would take the weight cache " +
                                   "past its quota of " + HumanBytes(static_cast<double>(quota)) +
                                   " (--cache-quota)");
        break;
      }
      // Not counted while it is rewritten: a half-written tensor never looks present.
      if (have.tensors.erase(c.tensor())) {
        result = WriteHave(sha, have);
        if (!result.ok()) break;
      }
      writing_.insert({sha, c.tensor()});
      mine.insert({sha, c.tensor()});
      received = 0;
      hash = std::make_unique<Sha256>();
    }
    if (c.offset() != received || c.data().size() > cur->size_bytes - received) {
      result = InvalidArgument("PushWeights: chunk of " + c.tensor() + " at " +
                               std::to_string(c.offset()) + " is out of order or past its end");
      break;
    }
    const uint64_t at = file->data_offset() + cur->offset + received;
    if (::pwrite(fd, c.data().data(), c.data().size(), static_cast<off_t>(at)) !=
        static_cast<ssize_t>(c.data().size())) {
      result = IoError(path + ": write failed: " + std::strerror(errno));
      break;
    }
    hash->Update(c.data().data(), c.data().size());
    received += c.data().size();
    *bytes_written += c.data().size();
    if (!c.tensor_sha256().empty()) {
      if (received != cur->size_bytes) {
        result = InvalidArgument("PushWeights: " + c.tensor() + " ended after " +
                                 std::to_string(received) + " of " +
                                 std::to_string(cur->size_bytes) + " bytes");
        break;
      }
      // The sender's digest only checks the transit; the record is this worker's own.
      const std::string digest = hash->Final();
      if (!SecureEquals(digest, c.tensor_sha256())) {
        result = InvalidArgument("PushWeights: hash mismatch for " + c.tensor() +
                                 " (corrupted in transit, or a different model)");
        break;
      }
      done[c.tensor()] = digest;
      done_bytes += cur->size_bytes;
      cur = nullptr;
      if (done_bytes >= (uint64_t{64} << 20)) {
        result = record();
        if (!result.ok()) break;
      }
    }
  }
  if (Status r = record(); result.ok()) result = r;
  if (result.ok() && cur)
    return InvalidArgument("PushWeights: the stream ended inside tensor " + std::string(cur->name));
  if (result.ok() && created) {
    std::lock_guard<std::mutex> lock(mu_);
    recorded = true;  // a header alone is worth keeping once the push succeeded
  }
  return result;
}

Status PushWeights(Channel& ch, ClientSession& session, const GgufFile& file,
                   const std::string& sha256, bool with_header,
                   const std::vector<std::string>& tensors, double link_bytes_per_second,
                   const std::string& worker_name) {
  for (const std::string& name : tensors)  // before the stream opens
    if (!file.FindTensor(name))
      return InvalidArgument("the worker asked for tensor '" + name + "', not in the model");
  const uint64_t total = TensorBytes(file, tensors) + (with_header ? file.data_offset() : 0);
  auto writer =
      ch.Open("PushWeights",
              session.Sign("PushWeights", TransferDeadlineSeconds(total, link_bytes_per_second)));
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
  v1::PushWeightsReply reply;
  (void)writer->Read(&reply);
  Status s = writer->Finish();
  bar.Finish();
  return s.WithContext(worker_name + ": weight transfer");
}

}  // namespace suanli::cluster
