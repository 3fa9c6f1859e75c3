// The pool's building blocks without a network: activation codecs, the pool token, the weight
// store's checks on hostile transfers, and batched forward passes across sequences.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

#include "base/thread_pool.h"
#include "cluster/activation_codec.h"
#include "cluster/auth.h"
#include "cluster/batch_codec.h"
#include "cluster/head.h"
#include "cluster/model_cost.h"
#include "cluster/stage_weights.h"
#include "engine/forward.h"
#include "gguf/gguf_writer.h"
#include "model/default_model.h"
#include "model/model.h"
#include "model/synth.h"

namespace suanli::cluster {
namespace {

namespace fs = std::filesystem;

std::string TempDir(const std::string& tag) {
  fs::path d = fs::path(::testing::TempDir()) / ("suanli-" + tag + "-" + std::to_string(getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

// A tiny synthesized model shared by the tests below.
const std::string& TinyModel() {
  static const std::string path = [] {
    std::string p = TempDir("cluster-model") + "/tiny.gguf";
    auto vocab = EmbeddedVocab();
    EXPECT_TRUE(vocab.ok());
    SynthSpec spec;
    EXPECT_TRUE(ApplyShapePreset("tiny", &spec).ok());
    EXPECT_TRUE(ApplyTypePreset("q8_0", &spec).ok());
    EXPECT_TRUE(SynthesizeModel(spec, **vocab, p).ok());
    return p;
  }();
  return path;
}

TEST(ActivationCodec, RoundTrips) {
  const int64_t n = 3, dim = 64;
  std::vector<float> x(n * dim), y(n * dim);
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0, 2);
  for (float& v : x) v = nd(rng);
  for (ActFormat f : {ActFormat::kF32, ActFormat::kF16, ActFormat::kQ8_0}) {
    std::string bytes;
    EncodeActivations(f, x.data(), n, dim, &bytes);
    EXPECT_EQ(bytes.size(), n * placement::ActivationBytes(f, dim));
    ASSERT_TRUE(DecodeActivations(f, bytes, n, dim, y.data()).ok());
    const float tol = f == ActFormat::kF32 ? 0 : f == ActFormat::kF16 ? 4e-3f : 5e-2f;
    for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(x[i], y[i], tol * (1 + std::fabs(x[i])));
    // Wrong sizes are errors, not reads past the end.
    EXPECT_FALSE(DecodeActivations(f, bytes.substr(1), n, dim, y.data()).ok());
    EXPECT_FALSE(DecodeActivations(f, bytes, n + 1, dim, y.data()).ok());
  }
  EXPECT_FALSE(CheckActFormat(ActFormat::kQ8_0, 48).ok());
  EXPECT_TRUE(CheckActFormat(ActFormat::kF16, 48).ok());
}

// A peer's NaN or infinity is refused, in every format (found by stage_fuzz: a NaN reached the
// attention softmax).
TEST(ActivationCodec, RefusesNonFiniteValues) {
  const int64_t dim = 64;
  std::vector<float> x(2 * dim, 0.5f), y(2 * dim);
  for (float bad : {NAN, INFINITY, -INFINITY}) {
    x[dim + 7] = bad;
    for (ActFormat f : {ActFormat::kF32, ActFormat::kF16}) {
      std::string bytes;
      EncodeActivations(f, x.data(), 2, dim, &bytes);
      Status s = DecodeActivations(f, bytes, 2, dim, y.data());
      EXPECT_FALSE(s.ok());
      EXPECT_NE(s.message().find("row 1"), std::string::npos) << s.message();
    }
  }
  // A q8_0 block whose scale is NaN (fp16 0x7e00).
  x[dim + 7] = 0.5f;
  std::string bytes;
  EncodeActivations(ActFormat::kQ8_0, x.data(), 2, dim, &bytes);
  bytes[0] = 0x00;
  bytes[1] = 0x7e;
  EXPECT_FALSE(DecodeActivations(ActFormat::kQ8_0, bytes, 2, dim, y.data()).ok());
}

// A last stage that answers NaN or infinite logits (a broken or lying worker) is refused: the head
// never passes them on as a model's output.
TEST(BatchCodec, RefusesNonFiniteLogits) {
  StepBatch b;
  b.id = 7;
  SeqStep st;
  st.seq = 3;
  st.tokens = {1, 2};
  st.blocks = {0};
  st.logits = LogitsWant::kLast;
  b.steps.push_back(st);
  for (float poison : {1.0f, NAN, INFINITY, -INFINITY}) {
    StepOutput out;
    out.id = 7;
    SeqOutput o;
    o.seq = 3;
    o.logits = {0.5f, poison, -2.0f, 0.0f};
    out.outputs.push_back(o);
    v1::BatchResult r;
    OutputToProto(out, &r);
    StepOutput back = OutputFromProto(std::move(r), b, 4);
    if (poison == 1.0f) {
      EXPECT_TRUE(back.status.ok()) << back.status.message();
      EXPECT_EQ(back.outputs[0].logits, o.logits);
    } else {
      EXPECT_EQ(back.status.code(), StatusCode::kInternal);
      EXPECT_NE(back.status.message().find("non-finite logits"), std::string::npos);
    }
  }
}

TEST(Auth, TokenSourcesAndProofs) {
  ::unsetenv("SUANLI_TOKEN");
  EXPECT_FALSE(ResolvePoolToken("", "").ok());
  EXPECT_FALSE(ResolvePoolToken("short", "").ok());
  EXPECT_EQ(*ResolvePoolToken("long-enough-token", ""), "long-enough-token");
  const std::string file = TempDir("token") + "/t";
  FILE* f = std::fopen(file.c_str(), "w");
  std::fputs("from-a-file-12345\n", f);
  std::fclose(f);
  EXPECT_EQ(*ResolvePoolToken("", file), "from-a-file-12345");
  EXPECT_FALSE(ResolvePoolToken("", file + ".missing").ok());
  ::setenv("SUANLI_TOKEN", "from-the-env-12345", 1);
  EXPECT_EQ(*ResolvePoolToken("", ""), "from-the-env-12345");
  ::unsetenv("SUANLI_TOKEN");
  EXPECT_FALSE(ResolvePoolToken("fifteen-chars-1", "").ok());  // at least 16
  const std::string n1 = RandomNonce(), n2 = RandomNonce();
  EXPECT_EQ(n1.size(), 16u);
  EXPECT_NE(n1, n2);
  // RFC 4231 test case 2.
  EXPECT_EQ(ToHex(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

// Feeds chunks to a WeightStore as a PushWeights stream would.
Status Push(WeightStore& store, std::vector<v1::WeightChunk> chunks) {
  size_t i = 0;
  uint64_t written = 0;
  return store.Receive(
      [&](v1::WeightChunk* c) {
        if (i == chunks.size()) return false;
        *c = chunks[i++];
        return true;
      },
      &written);
}

TEST(WeightStore, StreamsOnlyTheStageAndRejectsBadChunks) {
  auto file = GgufFile::Open(TinyModel());
  ASSERT_TRUE(file.ok());
  const GgufFile& f = **file;
  auto sha = Sha256File(TinyModel());
  ASSERT_TRUE(sha.ok());
  WeightStore store(TempDir("store"), {});
  const StageDigests want = FileDigests(f);
  auto loc = store.Locate(*sha, f.file_size(), 1, 3, false, false, want);
  ASSERT_TRUE(loc.ok());
  EXPECT_TRUE(loc->header_missing);
  EXPECT_FALSE(store.Locate("zz", f.file_size(), 0, 1, true, false, want).ok());

  const auto names = StageTensorNames(f, 1, 3, false, false);
  for (const std::string& n : names)
    EXPECT_TRUE(n.starts_with("blk.1.") || n.starts_with("blk.2."));
  auto chunk_of = [&](const std::string& name, bool good_hash) {
    const GgufTensorInfo* t = f.FindTensor(name);
    v1::WeightChunk c;
    c.set_model_sha256(*sha);
    c.set_model_size(f.file_size());
    c.set_tensor(name);
    c.set_data(t->data, t->size_bytes);
    c.set_tensor_sha256(good_hash ? want.tensors.at(name) : HmacSha256("", ""));
    return c;
  };
  v1::WeightChunk header;
  header.set_model_sha256(*sha);
  header.set_model_size(f.file_size());
  header.set_header(f.file_data(), f.data_offset());

  // Unknown tensor, out-of-order chunk, wrong hash: errors, nothing recorded (not even the new
  // copy's header: a failed push leaves no file).
  v1::WeightChunk unknown = chunk_of(names[0], true);
  unknown.set_tensor("blk.99.nothing");
  EXPECT_FALSE(Push(store, {header, unknown}).ok());
  v1::WeightChunk late = chunk_of(names[0], true);
  late.set_offset(7);
  EXPECT_FALSE(Push(store, {header, late}).ok());
  EXPECT_FALSE(Push(store, {header, chunk_of(names[0], false)}).ok());
  loc = store.Locate(*sha, f.file_size(), 1, 3, false, false, want);
  ASSERT_TRUE(loc.ok());
  EXPECT_TRUE(loc->header_missing);

  // The right tensors: the sparse copy binds and holds the same bytes.
  std::vector<v1::WeightChunk> good = {header};
  for (const std::string& n : names) good.push_back(chunk_of(n, true));
  ASSERT_TRUE(Push(store, good).ok());
  loc = store.Locate(*sha, f.file_size(), 1, 3, false, false, want);
  ASSERT_TRUE(loc.ok());
  ASSERT_FALSE(loc->path.empty());
  EXPECT_EQ(loc->source, "cache");
  auto copy = GgufFile::Open(loc->path);
  ASSERT_TRUE(copy.ok());
  for (const std::string& n : names) {
    const GgufTensorInfo* a = f.FindTensor(n);
    const GgufTensorInfo* b = (*copy)->FindTensor(n);
    ASSERT_TRUE(b);
    EXPECT_EQ(0, std::memcmp(a->data, b->data, a->size_bytes)) << n;
  }
  // Another range needs only what is missing.
  loc = store.Locate(*sha, f.file_size(), 2, 4, false, true, want);
  ASSERT_TRUE(loc.ok());
  for (const std::string& n : loc->missing_tensors) EXPECT_FALSE(n.starts_with("blk.2.")) << n;
  EXPECT_FALSE(loc->missing_tensors.empty());
}

std::string Sha256Of(const std::string& bytes) {
  const std::string tmp = TempDir("sha") + "/b";
  FILE* fp = std::fopen(tmp.c_str(), "wb");
  std::fwrite(bytes.data(), 1, bytes.size(), fp);
  std::fclose(fp);
  auto hex = Sha256File(tmp);
  std::string raw;
  for (size_t i = 0; i < hex->size(); i += 2)
    raw += static_cast<char>(std::stoi(hex->substr(i, 2), nullptr, 16));
  return raw;
}

// The chunks that push `names` of `f`: the header first when asked, then each tensor whole,
// its last chunk carrying the SHA-256 of the bytes actually sent.
std::vector<v1::WeightChunk> PushOf(const GgufFile& f, const std::string& sha,
                                    const std::vector<std::string>& names, bool with_header,
                                    const std::map<std::string, std::string>& replace = {}) {
  std::vector<v1::WeightChunk> out;
  v1::WeightChunk h;
  h.set_model_sha256(sha);
  h.set_model_size(f.file_size());
  if (with_header) h.set_header(f.file_data(), f.data_offset());
  out.push_back(h);
  for (const std::string& n : names) {
    const GgufTensorInfo* t = f.FindTensor(n);
    v1::WeightChunk c;
    c.set_tensor(n);
    auto r = replace.find(n);
    const std::string bytes =
        r != replace.end() ? r->second
                           : std::string(reinterpret_cast<const char*>(t->data), t->size_bytes);
    c.set_data(bytes);
    c.set_tensor_sha256(Sha256Of(bytes));  // the sender's digest: right for what it sends
    out.push_back(c);
  }
  return out;
}

std::vector<std::string> Files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  return out;
}

// The tiny model's parsed file, content hash and digests.
struct TinyFile {
  TinyFile() {
    auto f = GgufFile::Open(TinyModel());
    file = std::move(*f);
    sha = *Sha256File(TinyModel());
    want = FileDigests(*file);
  }
  std::unique_ptr<GgufFile> file;
  std::string sha;
  StageDigests want;
};

// A push under the real model's hash with other bytes (zeros, with their own correct digest) is
// cached, but a head that expects the real tensor finds it missing; a header with other metadata
// is missing too. Before, the worker recorded the sender's digest and the next honest head bound
// the zeros (empty output, exit 0).
TEST(WeightStore, PoisonedPushIsNeverUsed) {
  const TinyFile tiny;
  const GgufFile& f = *tiny.file;
  const std::string& sha = tiny.sha;
  const StageDigests& want = tiny.want;
  const auto names = StageTensorNames(f, 0, 1, false, false);
  ASSERT_FALSE(names.empty());
  const std::string target = names[0];
  const std::string zeros(f.FindTensor(target)->size_bytes, '\0');
  WeightStore store(TempDir("poison"), {});
  const std::vector<v1::WeightChunk> poison = PushOf(f, sha, names, true, {{target, zeros}});
  ASSERT_TRUE(Push(store, poison).ok());  // consistent in itself: accepted, recorded as zeros
  auto loc = store.Locate(sha, f.file_size(), 0, 1, false, false, want);
  ASSERT_TRUE(loc.ok());
  EXPECT_TRUE(loc->path.empty());
  EXPECT_EQ(loc->missing_tensors, std::vector<std::string>{target});
  // The honest head sends the real bytes: now it binds.
  std::vector<v1::WeightChunk> fix = PushOf(f, sha, {target}, false);
  ASSERT_TRUE(Push(store, fix).ok());
  loc = store.Locate(sha, f.file_size(), 0, 1, false, false, want);
  ASSERT_TRUE(loc.ok());
  EXPECT_EQ(loc->source, "cache");
  // A head that names no digest for a tensor of its stage is refused.
  StageDigests partial = want;
  partial.tensors.erase(target);
  EXPECT_EQ(store.Locate(sha, f.file_size(), 0, 1, false, false, partial).status().code(),
            StatusCode::kInvalidArgument);
  // A header with other bytes (metadata) is not this head's header.
  StageDigests other = want;
  other.header = Sha256Of("some other header");
  loc = store.Locate(sha, f.file_size(), 0, 1, false, false, other);
  ASSERT_TRUE(loc.ok());
  EXPECT_TRUE(loc->header_missing);
}

// A poisoner that holds a stage on its poisoned copy (it named the poison's digests) cannot keep
// honest heads out: their LoadStage asks for a whole new copy, which the poisoner's stage never
// sees, instead of tensors the running stage's bytes would have to be overwritten for. Before,
// the honest push failed ("mapped by a running stage") for as long as the poisoner fed its stage.
TEST(WeightStore, APoisonersRunningStageDoesNotBlockHonestHeads) {
  const TinyFile tiny;
  const GgufFile& f = *tiny.file;
  const std::string& sha = tiny.sha;
  const auto names = StageTensorNames(f, 0, 1, false, false);
  const std::string target = names[0];
  const std::string zeros(f.FindTensor(target)->size_bytes, '\0');
  WeightStore store(TempDir("poison-held"), {});
  ASSERT_TRUE(Push(store, PushOf(f, sha, names, true, {{target, zeros}})).ok());
  StageDigests poisoned = tiny.want;
  poisoned.tensors[target] = Sha256Of(zeros);
  auto held = store.Locate(sha, f.file_size(), 0, 1, false, false, poisoned);
  ASSERT_TRUE(held.ok());
  ASSERT_EQ(held->source, "cache");  // the poisoner's own stage maps its copy
  auto loc = store.Locate(sha, f.file_size(), 0, 1, false, false, tiny.want);
  ASSERT_TRUE(loc.ok());
  EXPECT_TRUE(loc->header_missing);  // a new copy, not the tensor under the running stage
  EXPECT_TRUE(loc->missing_tensors.empty());
  // Pushing just the tensor is still refused while the stage maps it.
  EXPECT_EQ(Push(store, PushOf(f, sha, {target}, false)).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(Push(store, PushOf(f, sha, names, true)).ok());
  loc = store.Locate(sha, f.file_size(), 0, 1, false, false, tiny.want);
  ASSERT_TRUE(loc.ok());
  EXPECT_EQ(loc->source, "cache");
  auto honest = GgufFile::Open(loc->path);
  ASSERT_TRUE(honest.ok());
  const GgufTensorInfo* t = (*honest)->FindTensor(target);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(t->data), t->size_bytes),
            std::string(reinterpret_cast<const char*>(f.FindTensor(target)->data), t->size_bytes));
  held->in_use.reset();  // the poisoner's stage ends; the honest copy stays
  loc = store.Locate(sha, f.file_size(), 0, 1, false, false, tiny.want);
  ASSERT_TRUE(loc.ok());
  EXPECT_EQ(loc->source, "cache");
}

// The head's digests come from its cache after the first time; a damaged cache is recomputed.
TEST(WeightStore, DigestsCacheMatchesTheFile) {
  auto file = GgufFile::Open(TinyModel());
  ASSERT_TRUE(file.ok());
  const std::string sha = *Sha256File(TinyModel());
  const std::string dir = TempDir("digests");
  const StageDigests fresh = FileDigests(**file);
  const StageDigests first = FileDigestsCached(**file, sha, dir);
  EXPECT_EQ(first.header, fresh.header);
  EXPECT_EQ(first.tensors, fresh.tensors);
  EXPECT_TRUE(fs::exists(dir + "/tensor-digests/" + sha + ".json"));
  std::FILE* fp = std::fopen((dir + "/tensor-digests/" + sha + ".json").c_str(), "w");
  std::fputs("{\"header\": \"00\", \"tensors\": {}}", fp);
  std::fclose(fp);
  const StageDigests again = FileDigestsCached(**file, sha, dir);
  EXPECT_EQ(again.tensors, fresh.tensors);
  EXPECT_EQ(again.header, fresh.header);
}

// While a stage maps the cached copy its tensors are not overwritten, and a push that fails
// leaves no file behind; model_size must be what the header's tensors take.
TEST(WeightStore, MappedTensorsStayAndFailedPushesLeaveNothing) {
  const TinyFile tiny;
  const GgufFile& f = *tiny.file;
  const std::string& sha = tiny.sha;
  const StageDigests& want = tiny.want;
  const auto names = StageTensorNames(f, 0, 1, false, false);
  const std::string dir = TempDir("inuse");
  WeightStore store(dir, {});
  auto good = PushOf(f, sha, names, true);
  ASSERT_TRUE(Push(store, good).ok());
  {
    auto loc = store.Locate(sha, f.file_size(), 0, 1, false, false, want);
    ASSERT_TRUE(loc.ok());
    ASSERT_TRUE(loc->in_use);
    const std::string zeros(f.FindTensor(names[0])->size_bytes, '\0');
    auto over = PushOf(f, sha, {names[0]}, false, {{names[0], zeros}});
    Status s = Push(store, over);
    EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.message();
    auto again = store.Locate(sha, f.file_size(), 0, 1, false, false, want);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->source, "cache");  // still the real bytes
  }
  // A new copy whose push fails (a bad tensor) or whose size the header does not explain (a
  // huge sparse file) is removed.
  const std::string other_sha(64, 'b');
  auto bad = PushOf(f, other_sha, {names[0]}, true);
  bad[1].set_tensor_sha256(HmacSha256("x", "y"));
  EXPECT_FALSE(Push(store, bad).ok());
  auto huge = PushOf(f, other_sha, {}, true);
  huge[0].set_model_size(uint64_t{1} << 40);
  EXPECT_FALSE(Push(store, huge).ok());
  for (const std::string& n : Files(dir + "/weights"))
    EXPECT_EQ(n.find(other_sha), std::string::npos) << n << " left behind";
}

// The cache stays within its quota.
TEST(WeightStore, QuotaBoundsTheCache) {
  const TinyFile tiny;
  const GgufFile& f = *tiny.file;
  const std::string& sha = tiny.sha;
  const auto names = StageTensorNames(f, 0, 2, true, false);
  WeightStore store(TempDir("quota"), {}, f.file_size() / 8);
  auto push = PushOf(f, sha, names, true);
  Status s = Push(store, push);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.message();  // model_size alone is over
  WeightStore roomy(TempDir("quota2"), {}, f.file_size() + (1 << 20));
  EXPECT_TRUE(Push(roomy, push).ok());
}

// A push stalled on the network does not hold up LoadStage's lookups (the store's lock is not
// held across reads). Before, Locate waited for the whole stream.
TEST(WeightStore, StalledPushDoesNotBlockLookups) {
  const TinyFile tiny;
  const GgufFile& f = *tiny.file;
  const std::string& sha = tiny.sha;
  const StageDigests& want = tiny.want;
  const auto names = StageTensorNames(f, 0, 1, false, false);
  WeightStore store(TempDir("stall"), {});
  auto push = PushOf(f, sha, names, true);
  std::atomic<bool> release{false};
  std::atomic<int> sent{0};
  std::thread pusher([&] {
    uint64_t written = 0;
    (void)store.Receive(
        [&](v1::WeightChunk* c) {
          if (sent == 2)  // the header and one tensor, then the sender stalls (2 s at most)
            for (int i = 0; i < 400 && !release; ++i)
              std::this_thread::sleep_for(std::chrono::milliseconds(5));
          if (sent == static_cast<int>(push.size())) return false;
          *c = push[static_cast<size_t>(sent++)];
          return true;
        },
        &written);
  });
  while (sent < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto t0 = std::chrono::steady_clock::now();
  auto loc = store.Locate(sha, f.file_size(), 3, 4, false, true, want);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  release = true;
  pusher.join();
  ASSERT_TRUE(loc.ok());
  EXPECT_LT(took, 1.0);
}

TEST(Head, WorkersOnOneHostShareItsMemory) {
  std::vector<placement::Device> d(4);
  for (auto& x : d) x.memory_bytes = 12ull << 30;
  ShareHostMemory(d, {"", "boot-a", "boot-a", "boot-b"});
  EXPECT_EQ(d[0].memory_bytes, 12ull << 30);  // unknown host: as reported
  EXPECT_EQ(d[1].memory_bytes, 6ull << 30);
  EXPECT_EQ(d[2].memory_bytes, 6ull << 30);
  EXPECT_EQ(d[3].memory_bytes, 12ull << 30);
}

StatusOr<placement::ModelCost> CostOfFile(const std::string& path) {
  SL_ASSIGN_OR_RETURN(auto f, GgufFile::Open(path));
  SL_ASSIGN_OR_RETURN(HParams hp, ReadHParams(*f));
  return ModelCostFromFile(*f, hp, placement::ActFormat::kF32);
}

TEST(ModelCost, OutputFollowsTheTiedRuleOfTheArchitecture) {
  // A gemma2 file that also carries an (unused, larger) output.weight: placement must count
  // token_embd as the output projection, as the forward pass binds it.
  const std::string dir = TempDir("model-cost");
  auto vocab = EmbeddedVocab();
  ASSERT_TRUE(vocab.ok());
  SynthSpec spec;
  ASSERT_TRUE(ApplyShapePreset("tiny", &spec).ok());
  ASSERT_TRUE(ApplyTypePreset("q8_0", &spec).ok());
  spec.arch = "gemma2";
  ASSERT_TRUE(SynthesizeModel(spec, **vocab, dir + "/g.gguf").ok());
  auto src = GgufFile::Open(dir + "/g.gguf");
  ASSERT_TRUE(src.ok());
  GgufWriter w;
  for (const GgufKV& kv : (*src)->metadata())
    if (kv.key != "general.alignment") w.SetValue(kv.key, kv.value);
  uint64_t embd = 0, norm = 0;
  int64_t dim = 0, vocab_n = 0;
  for (const GgufTensorInfo& t : (*src)->tensors()) {
    ASSERT_TRUE(w.AddTensorBytes(t.name, t.type, t.dims, t.data, t.size_bytes).ok());
    if (t.name == "token_embd.weight") embd = t.size_bytes, dim = t.dims[0], vocab_n = t.dims[1];
    if (t.name == "output_norm.weight") norm = t.size_bytes;
  }
  std::vector<float> out(static_cast<size_t>(dim * vocab_n), 0.01f);
  ASSERT_TRUE(w.AddTensorBytes("output.weight", TensorType::kF32, {dim, vocab_n}, out.data(),
                               out.size() * 4)
                  .ok());
  ASSERT_TRUE(w.WriteFile(dir + "/g2.gguf").ok());
  auto cost = CostOfFile(dir + "/g2.gguf");
  ASSERT_TRUE(cost.ok()) << cost.status().ToString();
  EXPECT_TRUE(cost->tied_output);
  EXPECT_EQ(cost->output_bytes, norm + embd);
  fs::remove_all(dir);
}

TEST(ModelCost, MixtureOfExpertsReadsTheActiveShareOfItsExperts) {
  const std::string dir = TempDir("model-cost-moe");
  auto vocab = EmbeddedVocab();
  ASSERT_TRUE(vocab.ok());
  SynthSpec spec;
  ASSERT_TRUE(ApplyShapePreset("tiny", &spec).ok());
  ASSERT_TRUE(ApplyTypePreset("q8_0", &spec).ok());
  spec.arch = "qwen3moe", spec.n_layers = 2;
  spec.n_expert = 8, spec.n_expert_used = 2, spec.expert_ffn_dim = 64;
  ASSERT_TRUE(SynthesizeModel(spec, **vocab, dir + "/m.gguf").ok());
  auto cost = CostOfFile(dir + "/m.gguf");
  ASSERT_TRUE(cost.ok()) << cost.status().ToString();
  auto f = GgufFile::Open(dir + "/m.gguf");
  ASSERT_TRUE(f.ok());
  uint64_t experts = 0, all = 0;
  for (const GgufTensorInfo& t : (*f)->tensors()) {
    if (!t.name.starts_with("blk.0.")) continue;
    all += t.size_bytes;
    if (t.name.find("_exps.") != std::string_view::npos) experts += t.size_bytes;
  }
  ASSERT_GT(experts, 0u);
  EXPECT_EQ(cost->layer_bytes[0], all);
  EXPECT_EQ(cost->layer_read_bytes.at(0), all - experts + experts / 8 * 2);
  fs::remove_all(dir);
}

TEST(ForwardBatch, SequencesBatchedMatchSequencesAlone) {
  auto model = Model::Load(TinyModel());
  ASSERT_TRUE(model.ok());
  const HParams& hp = (*model)->hparams();
  ThreadPool pool(2);
  Forward fwd(hp, (*model)->weights(), pool, 16, 64);
  const int64_t dim = hp.dim, L = hp.n_layers;
  // Two sequences with different histories (3 and 5 tokens), then one step each, batched.
  // One block pool; each sequence owns one block (its positions fit in 16).
  KvCache cache(hp, 4);
  const int32_t a[1] = {0}, b[1] = {1}, a2[1] = {2}, b2[1] = {3};
  std::vector<int32_t> ta = {1, 5, 9, 11}, tb = {1, 7, 3, 8, 2, 4};
  std::vector<float> x(16 * dim);
  auto feed = [&](const int32_t* blocks, const int32_t* t, int64_t n, int64_t pos) {
    fwd.Embed(t, n, x.data());
    fwd.RunLayers(x.data(), n, pos, blocks, 0, L, cache);
  };
  feed(a, ta.data(), 3, 0);
  feed(b, tb.data(), 5, 0);
  feed(a2, ta.data(), 3, 0);
  feed(b2, tb.data(), 5, 0);
  // Alone.
  std::vector<float> ya(dim), yb(dim);
  feed(a, &ta[3], 1, 3);
  std::copy(x.begin(), x.begin() + dim, ya.begin());
  feed(b, &tb[5], 1, 5);
  std::copy(x.begin(), x.begin() + dim, yb.begin());
  // Batched.
  const int32_t both[2] = {ta[3], tb[5]};
  fwd.Embed(both, 2, x.data());
  const Forward::Slice slices[2] = {{a2, 3, 1}, {b2, 5, 1}};
  fwd.RunLayersBatch(x.data(), slices, cache, 0, L);
  for (int64_t i = 0; i < dim; ++i) {
    EXPECT_NEAR(x[i], ya[i], 1e-3f * (1 + std::fabs(ya[i]))) << i;
    EXPECT_NEAR(x[dim + i], yb[i], 1e-3f * (1 + std::fabs(yb[i]))) << i;
  }
}

}  // namespace
}  // namespace suanli::cluster
