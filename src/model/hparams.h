// Model hyper-parameters read from GGUF metadata. Kept free of kernels and threads so the
// placement code can reason about a model's shape without linking the engine.
#pragma once

#include <cstdint>
#include <string>

#include "suanli/status.h"

namespace suanli {

class GgufFile;

enum class RopeOrder {
  kNormal,  // rotate adjacent pairs (x[2i], x[2i+1]): llama
  kNeox,    // rotate halves (x[i], x[i + d/2]): qwen2, gpt-neox
};

struct HParams {
  std::string arch;  // "llama" or "qwen2"
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;
  int64_t dim = 0;  // embedding width
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;  // < n_heads for grouped-query attention
  int64_t head_dim = 0;    // width of one head (key_length)
  int64_t ffn_dim = 0;
  float rms_eps = 1e-5f;
  float rope_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / linear scaling factor
  int64_t rope_dims = 0;         // leading dims of each head that rotate (usually head_dim)
  RopeOrder rope_order = RopeOrder::kNormal;
  bool qkv_bias = false;  // qwen2

  int64_t q_dim() const { return n_heads * head_dim; }
  int64_t kv_dim() const { return n_kv_heads * head_dim; }
  int64_t n_params_per_layer() const {
    return dim * q_dim() + 2 * dim * kv_dim() + q_dim() * dim + 3 * dim * ffn_dim;
  }
};

// Reads and validates the hyper-parameters. Errors name the key. n_vocab comes from the
// token_embd tensor when the vocab_size key is absent.
StatusOr<HParams> ReadHParams(const GgufFile& file);

}  // namespace suanli
