// Reference logits from the reference implementation's library (llama.cpp), in the format of
// ../shared/testdata/README.md: <out>.json (prompt, its tokens, greedy tokens, shape) and
// <out>.logits.f32 (one row per prompt position, then one per greedy token fed back).
// CPU, 2 threads, f32 KV cache, no flash attention, the prompt evaluated as one batch.
// Built and run by bench/reference/make_reference.sh; never linked into suanli.
//   dump_logits MODEL.gguf PROMPT N_GREEDY OUT_PREFIX [N_CTX]   (default 512; the context
//   length picks LongRoPE's factors, so it is recorded)
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "llama.h"

namespace {

std::string JsonString(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += static_cast<char>(c);
    } else if (c < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      o += b;
    } else {
      o += static_cast<char>(c);
    }
  }
  return o + "\"";
}

std::string JsonInts(const std::vector<llama_token>& v) {
  std::string o = "[";
  for (size_t i = 0; i < v.size(); ++i) o += (i ? ", " : "") + std::to_string(v[i]);
  return o + "]";
}

int Die(const char* what) {
  std::fprintf(stderr, "dump_logits: %s\n", what);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6)
    return Die("usage: dump_logits MODEL.gguf PROMPT N_GREEDY OUT_PREFIX [N_CTX]");
  const int n_ctx = argc == 6 ? std::atoi(argv[5]) : 512;
  const std::string path = argv[1], prompt = argv[2], out = argv[4];
  const int n_greedy = std::atoi(argv[3]);
  llama_backend_init();
  llama_model_params mp = llama_model_default_params();
  llama_model* model = llama_model_load_from_file(path.c_str(), mp);
  if (!model) return Die("cannot load the model");
  const llama_vocab* vocab = llama_model_get_vocab(model);
  const int n_vocab = llama_vocab_n_tokens(vocab);

  std::vector<llama_token> tokens(prompt.size() + 8);
  const int n = llama_tokenize(vocab, prompt.data(), static_cast<int32_t>(prompt.size()),
                               tokens.data(), static_cast<int32_t>(tokens.size()), true, false);
  if (n <= 0) return Die("cannot tokenize the prompt");
  tokens.resize(static_cast<size_t>(n));

  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(n_ctx);
  cp.n_batch = cp.n_ubatch = static_cast<uint32_t>(n_ctx);
  cp.n_threads = cp.n_threads_batch = 2;
  cp.type_k = cp.type_v = GGML_TYPE_F32;
  cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  llama_context* ctx = llama_init_from_model(model, cp);
  if (!ctx) return Die("cannot create a context");

  std::vector<float> rows;
  llama_batch batch = llama_batch_init(n, 0, 1);
  for (int i = 0; i < n; ++i) {
    batch.token[i] = tokens[static_cast<size_t>(i)];
    batch.pos[i] = i;
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = 0;
    batch.logits[i] = 1;
  }
  batch.n_tokens = n;
  if (llama_decode(ctx, batch) != 0) return Die("prompt decode failed");
  for (int i = 0; i < n; ++i) {
    const float* l = llama_get_logits_ith(ctx, i);
    rows.insert(rows.end(), l, l + n_vocab);
  }
  llama_batch_free(batch);

  std::vector<llama_token> greedy;
  for (int g = 0; g < n_greedy; ++g) {
    const float* last = rows.data() + rows.size() - static_cast<size_t>(n_vocab);
    llama_token best = 0;
    for (int i = 1; i < n_vocab; ++i)
      if (last[i] > last[best]) best = i;
    greedy.push_back(best);
    llama_batch one = llama_batch_get_one(&greedy.back(), 1);
    if (llama_decode(ctx, one) != 0) return Die("decode failed");
    const float* l = llama_get_logits_ith(ctx, -1);
    rows.insert(rows.end(), l, l + n_vocab);
  }

  const std::string base = out.substr(out.find_last_of('/') + 1);
  std::ofstream lf(out + ".logits.f32", std::ios::binary);
  lf.write(reinterpret_cast<const char*>(rows.data()),
           static_cast<std::streamsize>(rows.size() * sizeof(float)));
  std::ofstream js(out + ".json");
  js << "{\n  \"prompt\": " << JsonString(prompt) << ",\n  \"n_vocab\": " << n_vocab
     << ",\n  \"n_ctx\": " << n_ctx << ",\n  \"prompt_tokens\": " << JsonInts(tokens)
     << ",\n  \"n_prompt\": " << n << ",\n  \"logits_file\": " << JsonString(base + ".logits.f32")
     << ",\n  \"logits_shape\": [" << n + n_greedy << ", " << n_vocab
     << "],\n  \"greedy_tokens\": " << JsonInts(greedy) << "\n}\n";
  if (!lf || !js) return Die("cannot write the output");
  llama_free(ctx);
  llama_model_free(model);
  llama_backend_free();
  return 0;
}
