// suanli model synth: write a random-weight GGUF model of any shape.
#include <cstdio>
#include <optional>

#include "base/progress.h"
#include "cli/common.h"
#include "model/arch.h"
#include "model/default_model.h"
#include "model/synth.h"

namespace suanli::cli {
namespace {

struct SynthArgs {
  SynthSpec spec;
  std::string out;
  std::string vocab;
  std::string shape = "tiny";
  // Explicit dimensions override the shape preset; -1 = not given.
  int64_t dim = -1, layers = -1, heads = -1, kv_heads = -1, ffn = -1, ctx = -1, n_vocab = -1,
          head_dim = -1;
  std::string preset = "q8_0";
  std::string matrix_type, embd_type, output_type;
  bool separate_output = false;
};

Status ParseType(const std::string& s, const char* flag, TensorType* t) {
  if (s.empty()) return Status::Ok();
  auto parsed = ParseTensorType(s);
  if (!parsed || !GetTensorTypeInfo(*parsed).supported) {
    return InvalidArgument(std::string(flag) + ": '" + s + "' is not a supported tensor type (" +
                           SupportedTensorTypeNames() + ")");
  }
  *t = *parsed;
  return Status::Ok();
}

int RunSynth(SynthArgs a) {
  SynthSpec& s = a.spec;
  if (Status st = ApplyShapePreset(a.shape, &s); !st.ok()) return Fail(st);
  for (auto [given, field] : {std::pair{a.dim, &s.dim}, std::pair{a.layers, &s.n_layers},
                              std::pair{a.heads, &s.n_heads}, std::pair{a.kv_heads, &s.n_kv_heads},
                              std::pair{a.ffn, &s.ffn_dim}, std::pair{a.ctx, &s.n_ctx},
                              std::pair{a.n_vocab, &s.n_vocab}, std::pair{a.head_dim, &s.head_dim}})
    if (given >= 0) *field = given;
  if (Status st = ApplyTypePreset(a.preset, &s); !st.ok()) return Fail(st);
  for (auto [str, flag, t] : {std::tuple{&a.matrix_type, "--matrix-type", &s.matrix_type},
                              std::tuple{&a.embd_type, "--embd-type", &s.embd_type},
                              std::tuple{&a.output_type, "--output-type", &s.output_type}})
    if (Status st = ParseType(*str, flag, t); !st.ok()) return Fail(st);
  if (a.separate_output) s.tied_output = false;
  std::unique_ptr<GgufFile> vocab;
  if (a.vocab.empty()) {
    auto v = EmbeddedVocab();
    if (!v.ok()) return Fail(v.status());
    vocab = std::move(*v);
  } else {
    auto v = GgufFile::Open(a.vocab);
    if (!v.ok()) return Fail(v.status());
    vocab = std::move(*v);
  }
  std::optional<ProgressBar> bar;
  Status st = SynthesizeModel(s, *vocab, a.out, [&](uint64_t done, uint64_t total) {
    if (!bar) bar.emplace("writing " + a.out, total);
    bar->Update(done);
  });
  if (bar) bar->Finish();
  if (!st.ok()) return Fail(st.WithContext(a.out));
  std::fprintf(stderr, "wrote %s (%s, %lld layers, dim %lld, random weights)\n", a.out.c_str(),
               s.arch.c_str(), static_cast<long long>(s.n_layers), static_cast<long long>(s.dim));
  return 0;
}

}  // namespace

void AddModelCommand(CLI::App& app, RunFn* run) {
  CLI::App* model = app.add_subcommand("model", "Model utilities");
  model->require_subcommand(1);
  auto a = std::make_shared<SynthArgs>();
  CLI::App* sub =
      model->add_subcommand("synth", "Write a random-weight GGUF model of any supported shape");
  SynthSpec& s = a->spec;
  sub->add_option("-o,--output", a->out, "Output GGUF path")->required();
  sub->add_option("--vocab", a->vocab,
                  "GGUF file to copy tokenizer metadata from (default: the embedded Llama-2 "
                  "SentencePiece vocabulary)");
  sub->add_option("--shape", a->shape,
                  "Shape preset: tiny (default), 1b (Llama-3.2-1B); flags below override it");
  sub->add_option(
      "--type", a->preset,
      "Type preset: q4_0, q4_1, q5_1, q8_0, iq4_nl, iq4_xs, q2_k, q3_k_m, q4_k_m, q5_k_m, "
      "f16, f32 (default q8_0)");
  std::vector<std::string> archs;
  for (const ArchSpec& arch : SupportedArchs()) archs.emplace_back(arch.name);
  sub->add_option("--arch", s.arch, "Architecture: " + SupportedArchNames() + " (default llama)")
      ->check(CLI::IsMember(archs));
  sub->add_option("--dim", a->dim, "Embedding width")
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 16));
  sub->add_option("--layers", a->layers, "Layers")->check(CLI::Range(int64_t{1}, int64_t{1024}));
  sub->add_option("--heads", a->heads, "Attention heads")
      ->check(CLI::Range(int64_t{1}, int64_t{1024}));
  sub->add_option("--kv-heads", a->kv_heads, "Key/value heads")
      ->check(CLI::Range(int64_t{1}, int64_t{1024}));
  sub->add_option("--head-dim", a->head_dim,
                  "Width of one attention head (default dim / heads; qwen3 files use 128)")
      ->check(CLI::Range(int64_t{2}, int64_t{4096}));
  sub->add_option("--ffn", a->ffn, "Feed-forward width")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  sub->add_option("--ctx", a->ctx, "Training context length")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
  sub->add_option(
         "--n-vocab", a->n_vocab,
         "Vocabulary size (pads the given vocabulary; a SentencePiece one may be cut shorter)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 24));
  sub->add_flag("--separate-output", a->separate_output,
                "Write an output.weight (default: tied; gemma2 is always tied)");
  sub->add_option("--rope-base", s.rope_base, "RoPE frequency base (default 10000)")
      ->check(CLI::Range(1.0f, 1e9f));
  sub->add_option("--rope-linear", s.rope_linear, "Linear RoPE scaling factor (default none)")
      ->check(CLI::Range(1.0f, 1e3f));
  sub->add_option("--sliding-window", s.sliding_window,
                  "gemma: positions a sliding layer attends (default 4096 gemma2, 512 gemma3)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
  sub->add_option("--attn-softcap", s.attn_softcap, "gemma2: attention score soft cap (default 50)")
      ->check(CLI::Range(1e-3f, 1e5f));
  sub->add_option("--final-softcap", s.final_softcap,
                  "gemma: final logit soft cap (default 30 on gemma2, none on gemma3)")
      ->check(CLI::Range(1e-3f, 1e5f));
  sub->add_option("--experts", s.n_expert, "qwen3moe: experts per layer (default 8)")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  sub->add_option("--experts-used", s.n_expert_used,
                  "qwen3moe: experts each token runs (default 2)")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  sub->add_option("--expert-ffn", s.expert_ffn_dim,
                  "qwen3moe: feed-forward width of one expert (default ffn / experts-used)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  sub->add_option("--seed", s.seed, "Random seed (default 1)");
  sub->add_option("--matrix-type", a->matrix_type, "Type of the layer matrices (overrides --type)");
  sub->add_option("--embd-type", a->embd_type, "Type of token_embd (overrides --type)");
  sub->add_option("--output-type", a->output_type, "Type of output.weight (overrides --type)");
  sub->callback([a, run] { *run = [a] { return RunSynth(*a); }; });
}

}  // namespace suanli::cli
