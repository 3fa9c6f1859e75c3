#include "engine/forward.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <numeric>

#include "base/check.h"
#include "base/det_math.h"
#include "engine/vec_ops.h"

namespace suanli {

Forward::Forward(const HParams& hp, const ModelWeights& w, ThreadPool& pool, int64_t max_batch,
                 int64_t n_ctx)
    : hp_(hp), w_(w), pool_(pool), max_batch_(max_batch) {
  const size_t nb = static_cast<size_t>(max_batch);
  h_.resize(nb * hp.dim);
  q_.resize(nb * hp.q_dim());
  k_.resize(nb * hp.kv_dim());
  v_.resize(nb * hp.kv_dim());
  att_.resize(nb * hp.q_dim());
  const int64_t ffn_rows =
      std::max(hp.ffn_dim, hp.moe() ? hp.n_expert_used * hp.expert_ffn_dim : 0);
  gate_.resize(nb * ffn_rows);
  up_.resize(nb * ffn_rows);
  if (hp.moe()) {
    const size_t slots = nb * static_cast<size_t>(hp.n_expert_used);
    router_.resize(nb * hp.n_expert);
    order_.resize(nb * hp.n_expert);
    chosen_.resize(slots);
    chosen_w_.resize(slots);
    grouped_.resize(slots);
    grouped_row_.resize(slots);
    moe_out_.resize(slots * hp.dim);
  }
  scores_.resize(static_cast<size_t>(pool.size()));
  // θ_i = pos · freq_scale · base^(-2i/rope_dims) / freq_factor_i; sliding-window layers have
  // their own base and scale.
  const int64_t half = hp.rope_dims / 2;
  const float* factors =
      w.rope_freqs ? w.rope_freqs : (n_ctx > hp.n_ctx_orig ? w.rope_long : w.rope_short);
  auto table = [&](float base, float scale) {
    std::vector<float> t(static_cast<size_t>(half));
    for (int64_t i = 0; i < half; ++i) {
      double f = det::Pow(static_cast<double>(base),
                          -2.0 * static_cast<double>(i) / static_cast<double>(hp.rope_dims));
      f *= scale;
      if (factors) f /= factors[i];
      t[static_cast<size_t>(i)] = static_cast<float>(f);
    }
    return t;
  };
  rope_inv_freq_ = table(hp.rope_base, hp.rope_freq_scale);
  if (hp.n_swa > 0) rope_inv_freq_swa_ = table(hp.rope_base_swa, hp.rope_freq_scale_swa);
}

void Forward::Embed(const int32_t* tokens, int64_t n, float* x) {
  const kernels::Matrix& e = w_.token_embd;
  for (int64_t t = 0; t < n; ++t) {
    const uint8_t* row =
        static_cast<const uint8_t*>(e.data) + static_cast<size_t>(tokens[t]) * e.row_bytes;
    kernels::DequantizeRow(e.type, row, x + t * hp_.dim, hp_.dim);
    if (hp_.embedding_scale != 1.0f) vec::Scale(x + t * hp_.dim, hp_.embedding_scale, hp_.dim);
  }
}

void Forward::Linear(const kernels::Matrix& w, const float* x, int64_t n, float* y) {
  kernels::MatMul(pool_, w, x, n, y, actq_);
}

template <typename F>
void Forward::ParallelRows(int64_t n, F&& fn) {
  if (n == 1) {
    fn(0);
    return;
  }
  pool_.Run([&](int tid, int nth) {
    Range r = SplitRange(n, tid, nth);
    for (int64_t t = r.begin; t < r.end; ++t) fn(t);
  });
}

void Forward::LinearShared(std::initializer_list<const kernels::Matrix*> ws, const float* x,
                           int64_t n, std::initializer_list<float*> ys) {
  const kernels::Matrix& w0 = **ws.begin();
  bool same = true;
  for (const kernels::Matrix* w : ws)
    same = same && kernels::ActFormatFor(w->type) == kernels::ActFormatFor(w0.type);
  if (!same) {
    auto y = ys.begin();
    for (const kernels::Matrix* w : ws) Linear(*w, x, n, *y++);
    return;
  }
  // One quantization of the activations serves every matrix that reads them.
  const size_t row_bytes = kernels::ActRowBytes(w0.type, w0.cols);
  if (actq_.size() < row_bytes * static_cast<size_t>(n))
    actq_.resize(row_bytes * static_cast<size_t>(n));
  ParallelRows(n, [&](int64_t t) {
    kernels::QuantizeActRow(w0.type, x + t * w0.cols, actq_.data() + t * row_bytes, w0.cols);
  });
  auto y = ys.begin();
  for (const kernels::Matrix* w : ws) kernels::MatMulQuantized(pool_, *w, actq_.data(), n, *y++);
}

void Forward::MoeFfn(const LayerWeights& L, int64_t n) {
  const int64_t dim = hp_.dim, ne = hp_.n_expert, k = hp_.n_expert_used, eff = hp_.expert_ffn_dim;
  Linear(L.router, h_.data(), n, router_.data());
  // Route each row: softmax, the k most probable experts (NaN ranks last), their weights.
  ParallelRows(n, [&](int64_t t) {
    float* p = &router_[static_cast<size_t>(t * ne)];
    vec::SoftmaxInPlace(p, ne);
    int32_t* e = &chosen_[static_cast<size_t>(t * k)];
    float* w = &chosen_w_[static_cast<size_t>(t * k)];
    const auto idx = order_.begin() + t * ne;
    std::iota(idx, idx + ne, 0);
    const auto key = [&](int32_t i) {
      return std::isnan(p[i]) ? -std::numeric_limits<float>::infinity() : p[i];
    };
    std::partial_sort(idx, idx + k, idx + ne, [&](int32_t a, int32_t b) {
      return key(a) > key(b) || (key(a) == key(b) && a < b);
    });
    float sum = 0;
    for (int64_t j = 0; j < k; ++j) e[j] = idx[j], w[j] = p[e[j]], sum += w[j];
    if (hp_.moe_norm_topk) {
      // As the reference: the sum is kept away from 0 (the smallest normal f16).
      sum = std::max(sum, 6.103515625e-5f);
      for (int64_t j = 0; j < k; ++j) w[j] /= sum;
    }
  });
  // Group the n·k (row, slot) pairs by expert, rows ascending within one.
  std::vector<int64_t> count(static_cast<size_t>(ne) + 1, 0);
  for (int64_t s = 0; s < n * k; ++s) ++count[static_cast<size_t>(chosen_[s]) + 1];
  std::vector<int64_t> start(count);
  for (int64_t e = 0; e < ne; ++e) start[e + 1] += start[e];
  std::vector<int64_t> fill(start.begin(), start.end() - 1);
  for (int64_t s = 0; s < n * k; ++s) {
    const int64_t g = fill[static_cast<size_t>(chosen_[s])]++;
    grouped_[s] = static_cast<int32_t>(g);
    grouped_row_[g] = static_cast<int32_t>(s / k);
  }
  // Each grouped row's input quantized once per activation format; one dispatch for every
  // chosen expert's gate and up.
  const int64_t m = n * k;
  const TensorType gt = L.gate_exps.type, ut = L.up_exps.type;
  const bool same = kernels::ActFormatFor(gt) == kernels::ActFormatFor(ut);
  const size_t rb_g = kernels::ActRowBytes(gt, dim), rb_u = kernels::ActRowBytes(ut, dim);
  if (moe_xq_.size() < rb_g * m) moe_xq_.resize(rb_g * m);
  if (!same && moe_xq2_.size() < rb_u * m) moe_xq2_.resize(rb_u * m);
  ParallelRows(m, [&](int64_t g) {
    const float* x = h_.data() + grouped_row_[g] * dim;
    kernels::QuantizeActRow(gt, x, moe_xq_.data() + g * rb_g, dim);
    if (!same) kernels::QuantizeActRow(ut, x, moe_xq2_.data() + g * rb_u, dim);
  });
  const uint8_t* xq_u = same ? moe_xq_.data() : moe_xq2_.data();
  std::vector<kernels::Matrix> mats;
  mats.reserve(static_cast<size_t>(2 * ne));
  std::vector<kernels::GemmJob> jobs;
  jobs.reserve(static_cast<size_t>(2 * ne));
  for (int64_t e = 0; e < ne; ++e) {
    const int64_t g0 = start[e], cnt = start[e + 1] - g0;
    if (cnt == 0) continue;
    mats.push_back(Expert(L.gate_exps, ne, e));
    jobs.push_back({&mats.back(), moe_xq_.data() + g0 * rb_g, cnt, gate_.data() + g0 * eff});
    mats.push_back(Expert(L.up_exps, ne, e));
    jobs.push_back({&mats.back(), xq_u + g0 * rb_u, cnt, up_.data() + g0 * eff});
  }
  kernels::MatMulQuantizedMany(pool_, jobs.data(), jobs.size());
  const bool gelu = hp_.ffn_act == FfnAct::kGeluTanh;
  const TensorType dt = L.down_exps.type;
  const size_t rb_d = kernels::ActRowBytes(dt, eff);
  if (actq_.size() < rb_d * m) actq_.resize(rb_d * m);
  ParallelRows(m, [&](int64_t g) {
    float* a = &gate_[static_cast<size_t>(g * eff)];
    const float* u = &up_[static_cast<size_t>(g * eff)];
    gelu ? vec::GeluMul(a, u, eff) : vec::SiluMul(a, u, eff);
    kernels::QuantizeActRow(dt, a, actq_.data() + g * rb_d, eff);
  });
  mats.clear();
  jobs.clear();
  for (int64_t e = 0; e < ne; ++e) {
    const int64_t g0 = start[e], cnt = start[e + 1] - g0;
    if (cnt == 0) continue;
    mats.push_back(Expert(L.down_exps, ne, e));
    jobs.push_back({&mats.back(), actq_.data() + g0 * rb_d, cnt, moe_out_.data() + g0 * dim});
  }
  kernels::MatMulQuantizedMany(pool_, jobs.data(), jobs.size());
  // Each row's experts weighted and summed in slot order (best first), as the reference adds them.
  ParallelRows(n, [&](int64_t t) {
    float* out = h_.data() + t * dim;
    for (int64_t j = 0; j < k; ++j) {
      const float w = chosen_w_[static_cast<size_t>(t * k + j)];
      const float* y = moe_out_.data() + static_cast<int64_t>(grouped_[t * k + j]) * dim;
      for (int64_t i = 0; i < dim; ++i) out[i] = j == 0 ? y[i] * w : out[i] + y[i] * w;
    }
  });
}

void Forward::RmsNormRows(const float* x, const float* w, float* y, int64_t n) {
  const int64_t dim = hp_.dim;
  ParallelRows(n, [&](int64_t t) { vec::RmsNorm(x + t * dim, w, y + t * dim, dim, hp_.rms_eps); });
}

void Forward::Rope(float* v, int64_t n, int64_t n_heads, int64_t pos, const float* inv_freq) {
  const int64_t hd = hp_.head_dim, half = hp_.rope_dims / 2;
  const bool neox = hp_.rope_order == RopeOrder::kNeox;
  for (int64_t t = 0; t < n; ++t) {
    const float p = static_cast<float>(pos + t);
    for (int64_t i = 0; i < half; ++i) {
      const float theta = p * inv_freq[i];
      double sd, cd;
      det::SinCos(theta, &sd, &cd);
      float c = static_cast<float>(cd), s = static_cast<float>(sd);
      if (hp_.rope_attn_factor != 1.0f) c *= hp_.rope_attn_factor, s *= hp_.rope_attn_factor;
      for (int64_t h = 0; h < n_heads; ++h) {
        float* x = v + (t * n_heads + h) * hd;
        const int64_t a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
        const float x0 = x[a], x1 = x[b];
        x[a] = x0 * c - x1 * s;
        x[b] = x0 * s + x1 * c;
      }
    }
  }
}

void Forward::Attention(const KvCache& cache, int64_t layer, int64_t n) {
  static_assert(kKvBlockTokens == vec::kBlockKeys, "BlockScores reads whole KV blocks");
  const int64_t hd = hp_.head_dim, n_kv = hp_.n_kv_heads, group = hp_.n_heads / hp_.n_kv_heads;
  const int64_t q_dim = hp_.q_dim();
  const float scale =
      hp_.attention_scale > 0 ? hp_.attention_scale : 1.0f / std::sqrt(static_cast<float>(hd));
  // A sliding-window layer attends the last n_swa positions only (this one included).
  const int64_t window = hp_.is_swa(layer) ? hp_.n_swa : 0;
  const bool in_ring = window > 0 && cache.layout().ring();
  // One item is a token and a KV head with the `group` query heads that read it (GQA), so the
  // block's keys and values are loaded once for all of them.
  const int64_t items = n * n_kv;
  int64_t max_keys = 0;
  for (int64_t t = 0; t < n; ++t) max_keys = std::max(max_keys, row_pos_[t] + 1);
  const int64_t row_len = (max_keys + kKvBlockTokens - 1) / kKvBlockTokens * kKvBlockTokens;
  pool_.Run([&](int tid, int nth) {
    std::vector<float>& scores = scores_[static_cast<size_t>(tid)];
    if (scores.size() < static_cast<size_t>(group * row_len))
      scores.resize(static_cast<size_t>(group * row_len));
    // Interleaved so the long causal rows of the last tokens are shared evenly.
    for (int64_t it = tid; it < items; it += nth) {
      const int64_t t = it / n_kv, kvh = it % n_kv;
      const int64_t n_keys = row_pos_[t] + 1;  // causal: this token sees itself and the past
      // Positions [lo, n_keys) are attended; blocks before lo's are never read.
      const int64_t lo = window > 0 ? std::max<int64_t>(0, n_keys - window) : 0;
      const int64_t b_lo = lo / kKvBlockTokens;
      // Block b of this row's positions: its table's, or in a ring its slot b mod the ring.
      const int32_t* table =
          in_ring ? row_ring_[static_cast<size_t>(t)] : row_blocks_[static_cast<size_t>(t)];
      const int64_t ring_len = in_ring ? row_ring_len_[static_cast<size_t>(t)] : 0;
      const auto block_at = [&](int64_t b) { return in_ring ? table[b % ring_len] : table[b]; };
      const float* q = &q_[static_cast<size_t>(t * q_dim + kvh * group * hd)];
      float* out = &att_[static_cast<size_t>(t * q_dim + kvh * group * hd)];
      // Scores block by block, one softmax over all of them, then values block by block: the
      // same operations in the same order whatever blocks hold the positions.
      // A head's keys (and values) of a block are hd · kKvBlockTokens contiguous floats; the
      // blocks themselves sit anywhere, so the next one is prefetched while this one computes.
      const int64_t head_run = hd * kKvBlockTokens;
      const auto prefetch = [&](const float* p) {
        for (int64_t i = 0; i < head_run; i += 16) __builtin_prefetch(p + i);
      };
      for (int64_t p0 = b_lo * kKvBlockTokens; p0 < n_keys; p0 += kKvBlockTokens) {
        const int64_t b = p0 / kKvBlockTokens;
        if (p0 + kKvBlockTokens < n_keys)
          prefetch(cache.k(layer, block_at(b + 1)) + kvh * head_run);
        const float* kt = cache.k(layer, block_at(b)) + kvh * head_run;
        vec::BlockScores(q, group, kt, hd, scale, scores.data() + p0, row_len);
      }
      for (int64_t g = 0; g < group; ++g) {
        float* sg = scores.data() + g * row_len + lo;
        if (hp_.attn_softcap > 0) vec::SoftCap(sg, hp_.attn_softcap, n_keys - lo);
        vec::SoftmaxInPlace(sg, n_keys - lo);
        for (int64_t i = 0; i < hd; ++i) out[g * hd + i] = 0;
      }
      prefetch(cache.v(layer, block_at(b_lo)) + kvh * head_run);
      for (int64_t p0 = b_lo * kKvBlockTokens; p0 < n_keys; p0 += kKvBlockTokens) {
        const int64_t b = p0 / kKvBlockTokens, j0 = std::max<int64_t>(lo - p0, 0);
        const int64_t m = std::min(kKvBlockTokens, n_keys - p0) - j0;
        if (p0 + kKvBlockTokens < n_keys)
          prefetch(cache.v(layer, block_at(b + 1)) + kvh * head_run);
        const float* v = cache.v(layer, block_at(b)) + kvh * head_run + j0 * hd;
        vec::AccumulateRows(scores.data() + p0 + j0, row_len, group, v, hd, m, hd, out);
      }
    }
  });
}

void Forward::RunLayers(float* x, int64_t n, int64_t pos, const int32_t* blocks, int64_t first,
                        int64_t last, KvCache& cache, const int32_t* ring, int64_t ring_len) {
  const Slice one[1] = {{blocks, pos, n, ring, ring_len}};
  RunLayersBatch(x, one, cache, first, last);
}

void Forward::RunLayersBatch(float* x, std::span<const Slice> slices, KvCache& cache, int64_t first,
                             int64_t last) {
  int64_t n = 0;
  for (const Slice& s : slices) {
    SL_CHECK(s.n >= 1 && s.pos >= 0 && s.blocks != nullptr);
    n += s.n;
  }
  SL_CHECK(n >= 1 && n <= max_batch_);
  SL_CHECK(first >= cache.first_layer() && last <= cache.last_layer());
  const bool rings = cache.layout().ring();
  row_blocks_.resize(static_cast<size_t>(max_batch_));
  row_pos_.resize(static_cast<size_t>(max_batch_));
  row_ring_.resize(static_cast<size_t>(max_batch_));
  row_ring_len_.resize(static_cast<size_t>(max_batch_));
  for (int64_t t = 0; const Slice& s : slices) {
    SL_CHECK(!rings || (s.ring != nullptr && s.ring_len >= 1));
    for (int64_t i = 0; i < s.n; ++i, ++t) {
      row_blocks_[static_cast<size_t>(t)] = s.blocks;
      row_pos_[static_cast<size_t>(t)] = s.pos + i;
      row_ring_[static_cast<size_t>(t)] = s.ring;
      row_ring_len_[static_cast<size_t>(t)] = s.ring_len;
    }
  }
  const int64_t dim = hp_.dim, q_dim = hp_.q_dim(), kv_dim = hp_.kv_dim(), ffn = hp_.ffn_dim;
  const int64_t hd = hp_.head_dim;
  for (int64_t l = first; l < last; ++l) {
    const LayerWeights& L = w_.layers[static_cast<size_t>(l)];
    RmsNormRows(x, L.attn_norm, h_.data(), n);
    LinearShared({&L.wq, &L.wk, &L.wv}, h_.data(), n, {q_.data(), k_.data(), v_.data()});
    if (L.bq) {
      for (int64_t t = 0; t < n; ++t) {
        vec::Add(L.bq, &q_[static_cast<size_t>(t * q_dim)], q_dim);
        vec::Add(L.bk, &k_[static_cast<size_t>(t * kv_dim)], kv_dim);
        vec::Add(L.bv, &v_[static_cast<size_t>(t * kv_dim)], kv_dim);
      }
    }
    if (L.q_norm) {
      // qwen3: each head of q and k normalized on its own, one weight vector for all heads.
      ParallelRows(n, [&](int64_t t) {
        float* q = &q_[static_cast<size_t>(t * q_dim)];
        for (int64_t h = 0; h < hp_.n_heads; ++h)
          vec::RmsNorm(q + h * hd, L.q_norm, q + h * hd, hd, hp_.rms_eps);
        float* k = &k_[static_cast<size_t>(t * kv_dim)];
        for (int64_t h = 0; h < hp_.n_kv_heads; ++h)
          vec::RmsNorm(k + h * hd, L.k_norm, k + h * hd, hd, hp_.rms_eps);
      });
    }
    const bool rope = hp_.rope_at(l);
    const float* inv_freq = (hp_.is_swa(l) ? rope_inv_freq_swa_ : rope_inv_freq_).data();
    for (int64_t row = 0; const Slice& s : slices) {
      if (rope) {
        Rope(&q_[static_cast<size_t>(row * q_dim)], s.n, hp_.n_heads, s.pos, inv_freq);
        Rope(&k_[static_cast<size_t>(row * kv_dim)], s.n, hp_.n_kv_heads, s.pos, inv_freq);
      }
      const bool in_ring = rings && hp_.is_swa(l);
      for (int64_t t = 0; t < s.n; ++t) {
        const int64_t p = s.pos + t;
        const int64_t b = p / kKvBlockTokens;
        const int32_t block = in_ring ? s.ring[b % s.ring_len] : s.blocks[b];
        const int64_t j = p % kKvBlockTokens;
        const float* kr = &k_[static_cast<size_t>((row + t) * kv_dim)];
        float* kt = cache.k(l, block);  // keys transposed within the block (kv_cache.h)
        for (int64_t d = 0; d < kv_dim; ++d) kt[d * kKvBlockTokens + j] = kr[d];
        const float* vr = &v_[static_cast<size_t>((row + t) * kv_dim)];
        float* vb = cache.v(l, block);  // values head-major within the block (kv_cache.h)
        for (int64_t h = 0; h < hp_.n_kv_heads; ++h)
          std::memcpy(vb + (h * kKvBlockTokens + j) * hd, vr + h * hd, hd * sizeof(float));
      }
      row += s.n;
    }
    Attention(cache, l, n);
    Linear(L.wo, att_.data(), n, h_.data());
    if (L.attn_post_norm) RmsNormRows(h_.data(), L.attn_post_norm, h_.data(), n);
    if (hp_.residual_scale != 1.0f) vec::Scale(h_.data(), hp_.residual_scale, n * dim);
    vec::Add(h_.data(), x, n * dim);

    RmsNormRows(x, L.ffn_norm, h_.data(), n);
    if (hp_.moe()) {
      MoeFfn(L, n);
    } else {
      LinearShared({&L.w_gate, &L.w_up}, h_.data(), n, {gate_.data(), up_.data()});
      const bool gelu = hp_.ffn_act == FfnAct::kGeluTanh;
      ParallelRows(n, [&](int64_t t) {
        float* g = &gate_[static_cast<size_t>(t * ffn)];
        const float* u = &up_[static_cast<size_t>(t * ffn)];
        gelu ? vec::GeluMul(g, u, ffn) : vec::SiluMul(g, u, ffn);
      });
      Linear(L.w_down, gate_.data(), n, h_.data());
    }
    if (L.ffn_post_norm) RmsNormRows(h_.data(), L.ffn_post_norm, h_.data(), n);
    if (hp_.residual_scale != 1.0f) vec::Scale(h_.data(), hp_.residual_scale, n * dim);
    vec::Add(h_.data(), x, n * dim);
  }
}

void Forward::Logits(const float* x, int64_t n, int64_t rows, float* logits) {
  SL_CHECK(rows >= 1 && rows <= n);
  const int64_t dim = hp_.dim;
  const float* xs = x + (n - rows) * dim;
  RmsNormRows(xs, w_.output_norm, h_.data(), rows);
  Linear(w_.output, h_.data(), rows, logits);
  // As the reference does: a multiplication by the reciprocal, not a division.
  if (hp_.logit_scale != 1.0f) vec::Scale(logits, 1.0f / hp_.logit_scale, rows * hp_.n_vocab);
  if (hp_.final_softcap > 0) vec::SoftCap(logits, hp_.final_softcap, rows * hp_.n_vocab);
}

}  // namespace suanli
