#include "model/weights.h"

#include <string>

#include "base/fp16.h"
#include "model/tensor_names.h"

namespace suanli {
namespace {

std::string ShapeString(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

class Binder {
 public:
  Binder(const GgufFile& f, ModelWeights* w) : f_(f), w_(w) {}

  // A matrix of `rows` rows of `cols` elements: GGUF dims {cols, rows}.
  Status Matrix(std::string_view name_view, int64_t rows, int64_t cols, kernels::Matrix* out) {
    const std::string name(name_view);
    const GgufTensorInfo* t = f_.FindTensor(name);
    if (!t) return NotFound("missing tensor '" + name + "'");
    if (t->dims.size() != 2 || t->dims[0] != cols || t->dims[1] != rows)
      return InvalidArgument("tensor '" + name + "' has shape " + ShapeString(t->dims) +
                             ", expected " + ShapeString({cols, rows}));
    if (!GetTensorTypeInfo(t->type).supported)
      return Unimplemented("tensor '" + name + "' has unsupported type " +
                           std::string(TensorTypeName(t->type)));
    out->type = t->type;
    out->data = t->data;
    out->rows = rows;
    out->cols = cols;
    out->row_bytes = t->row_bytes();
    return Status::Ok();
  }

  // n_expert stacked matrices of `rows` × `cols` each: GGUF dims {cols, rows, n_expert}.
  Status Experts(std::string_view name_view, int64_t n_expert, int64_t rows, int64_t cols,
                 kernels::Matrix* out) {
    const std::string name(name_view);
    const GgufTensorInfo* t = f_.FindTensor(name);
    if (!t) return NotFound("missing tensor '" + name + "'");
    if (t->dims.size() != 3 || t->dims[0] != cols || t->dims[1] != rows || t->dims[2] != n_expert)
      return InvalidArgument("tensor '" + name + "' has shape " + ShapeString(t->dims) +
                             ", expected " + ShapeString({cols, rows, n_expert}));
    if (!GetTensorTypeInfo(t->type).supported)
      return Unimplemented("tensor '" + name + "' has unsupported type " +
                           std::string(TensorTypeName(t->type)));
    out->type = t->type;
    out->data = t->data;
    out->rows = rows * n_expert;
    out->cols = cols;
    out->row_bytes = t->row_bytes();
    return Status::Ok();
  }

  // Rows [first, first + n) of a bound matrix, as a matrix of its own (no copy): the parts of a
  // fused tensor.
  static kernels::Matrix Rows(const kernels::Matrix& m, int64_t first, int64_t n) {
    kernels::Matrix r = m;
    r.data = static_cast<const uint8_t*>(m.data) + static_cast<size_t>(first) * m.row_bytes;
    r.rows = n;
    return r;
  }

  // A vector of n floats; converted to f32 if stored otherwise.
  Status Vector(std::string_view name_view, int64_t n, const float** out) {
    const std::string name(name_view);
    const GgufTensorInfo* t = f_.FindTensor(name);
    if (!t) return NotFound("missing tensor '" + name + "'");
    if (t->n_elements() != n || t->dims[0] != n)
      return InvalidArgument("tensor '" + name + "' has shape " + ShapeString(t->dims) +
                             ", expected [" + std::to_string(n) + "]");
    if (t->type == TensorType::kF32 && reinterpret_cast<uintptr_t>(t->data) % alignof(float) == 0) {
      *out = reinterpret_cast<const float*>(t->data);
      return Status::Ok();
    }
    if (!GetTensorTypeInfo(t->type).supported)
      return Unimplemented("tensor '" + name + "' has unsupported type " +
                           std::string(TensorTypeName(t->type)));
    auto v = std::make_unique<std::vector<float>>(static_cast<size_t>(n));
    kernels::DequantizeRow(t->type, t->data, v->data(), n);
    *out = v->data();
    w_->owned.push_back(std::move(v));
    return Status::Ok();
  }

 private:
  const GgufFile& f_;
  ModelWeights* w_;
};

}  // namespace

StatusOr<ModelWeights> BindWeights(const GgufFile& f, const HParams& hp, const BindOptions& opts) {
  ModelWeights w;
  Binder b(f, &w);
  int64_t first = opts.first_layer, last = opts.last_layer < 0 ? hp.n_layers : opts.last_layer;
  if (first < 0 || first > last || last > hp.n_layers)
    return InvalidArgument("layer range [" + std::to_string(first) + ", " + std::to_string(last) +
                           ") is outside the model's " + std::to_string(hp.n_layers) + " layers");
  namespace tn = tensor_names;
  // The last stage needs the embedding only when the output is tied to it.
  w.tied_output = tn::OutputTied(f);
  if (opts.with_embedding || (opts.with_output && w.tied_output)) {
    SL_RETURN_IF_ERROR(b.Matrix(tn::kTokenEmbd, hp.n_vocab, hp.dim, &w.token_embd));
  }
  if (opts.with_output) {
    SL_RETURN_IF_ERROR(b.Vector(tn::kOutputNorm, hp.dim, &w.output_norm));
    if (w.tied_output) {
      w.output = w.token_embd;
    } else {
      SL_RETURN_IF_ERROR(b.Matrix(tn::kOutput, hp.n_vocab, hp.dim, &w.output));
    }
  }
  for (auto [name, out] :
       {std::pair{tn::kRopeFreqs, &w.rope_freqs}, std::pair{tn::kRopeLong, &w.rope_long},
        std::pair{tn::kRopeShort, &w.rope_short}})
    if (f.FindTensor(name)) SL_RETURN_IF_ERROR(b.Vector(name, hp.rope_dims / 2, out));
  if (!w.rope_long != !w.rope_short)
    return InvalidArgument("LongRoPE needs both " + std::string(tn::kRopeLong) + " and " +
                           std::string(tn::kRopeShort));
  w.layers.resize(static_cast<size_t>(hp.n_layers));
  for (int64_t l = first; l < last; ++l) {
    LayerWeights& L = w.layers[static_cast<size_t>(l)];
    auto name = [l](std::string_view suffix) { return tn::Layer(l, suffix); };
    SL_RETURN_IF_ERROR(b.Vector(name(tn::kAttnNorm), hp.dim, &L.attn_norm));
    if (f.FindTensor(name(tn::kAttnQkv))) {
      kernels::Matrix qkv;
      SL_RETURN_IF_ERROR(b.Matrix(name(tn::kAttnQkv), hp.q_dim() + 2 * hp.kv_dim(), hp.dim, &qkv));
      L.wq = Binder::Rows(qkv, 0, hp.q_dim());
      L.wk = Binder::Rows(qkv, hp.q_dim(), hp.kv_dim());
      L.wv = Binder::Rows(qkv, hp.q_dim() + hp.kv_dim(), hp.kv_dim());
    } else {
      SL_RETURN_IF_ERROR(b.Matrix(name(tn::kAttnQ), hp.q_dim(), hp.dim, &L.wq));
      SL_RETURN_IF_ERROR(b.Matrix(name(tn::kAttnK), hp.kv_dim(), hp.dim, &L.wk));
      SL_RETURN_IF_ERROR(b.Matrix(name(tn::kAttnV), hp.kv_dim(), hp.dim, &L.wv));
    }
    SL_RETURN_IF_ERROR(b.Matrix(name(tn::kAttnOut), hp.dim, hp.q_dim(), &L.wo));
    SL_RETURN_IF_ERROR(b.Vector(name(tn::kFfnNorm), hp.dim, &L.ffn_norm));
    if (hp.moe()) {
      SL_RETURN_IF_ERROR(b.Matrix(name(tn::kFfnGateInp), hp.n_expert, hp.dim, &L.router));
      const int64_t eff = hp.expert_ffn_dim;
      SL_RETURN_IF_ERROR(b.Experts(name(tn::kFfnGateExps), hp.n_expert, eff, hp.dim, &L.gate_exps));
      SL_RETURN_IF_ERROR(b.Experts(name(tn::kFfnUpExps), hp.n_expert, eff, hp.dim, &L.up_exps));
      SL_RETURN_IF_ERROR(b.Experts(name(tn::kFfnDownExps), hp.n_expert, hp.dim, eff, &L.down_exps));
    } else if (hp.fused_gate_up) {
      kernels::Matrix gate_up;
      SL_RETURN_IF_ERROR(b.Matrix(name(tn::kFfnUp), 2 * hp.ffn_dim, hp.dim, &gate_up));
      L.w_gate = Binder::Rows(gate_up, 0, hp.ffn_dim);
      L.w_up = Binder::Rows(gate_up, hp.ffn_dim, hp.ffn_dim);
    } else {
      SL_RETURN_IF_ERROR(b.Matrix(name(tn::kFfnGate), hp.ffn_dim, hp.dim, &L.w_gate));
      SL_RETURN_IF_ERROR(b.Matrix(name(tn::kFfnUp), hp.ffn_dim, hp.dim, &L.w_up));
    }
    if (!hp.moe()) SL_RETURN_IF_ERROR(b.Matrix(name(tn::kFfnDown), hp.dim, hp.ffn_dim, &L.w_down));
    if (hp.qkv_bias) {
      SL_RETURN_IF_ERROR(b.Vector(name(tn::kAttnQBias), hp.q_dim(), &L.bq));
      SL_RETURN_IF_ERROR(b.Vector(name(tn::kAttnKBias), hp.kv_dim(), &L.bk));
      SL_RETURN_IF_ERROR(b.Vector(name(tn::kAttnVBias), hp.kv_dim(), &L.bv));
    }
    if (hp.qk_norm) {
      SL_RETURN_IF_ERROR(b.Vector(name(tn::kAttnQNorm), hp.head_dim, &L.q_norm));
      SL_RETURN_IF_ERROR(b.Vector(name(tn::kAttnKNorm), hp.head_dim, &L.k_norm));
    }
    if (hp.post_norms) {
      SL_RETURN_IF_ERROR(b.Vector(name(tn::kAttnPostNorm), hp.dim, &L.attn_post_norm));
      SL_RETURN_IF_ERROR(b.Vector(name(tn::kFfnPostNorm), hp.dim, &L.ffn_post_norm));
    }
  }
  if (hp.moe())
    w.expert_share = static_cast<double>(hp.n_expert_used) / static_cast<double>(hp.n_expert);
  return w;
}

kernels::Matrix Expert(const kernels::Matrix& stacked, int64_t n_expert, int64_t e) {
  kernels::Matrix m = stacked;
  m.rows = stacked.rows / n_expert;
  m.data =
      static_cast<const uint8_t*>(stacked.data) + static_cast<size_t>(e * m.rows) * m.row_bytes;
  return m;
}

namespace {
uint64_t Bytes(const kernels::Matrix& m) { return m.data ? m.row_bytes * m.rows : 0; }
// Every matrix of the layers, the experts' counted at `expert_share` of their size.
uint64_t LayerBytes(const std::vector<LayerWeights>& layers, double expert_share) {
  uint64_t b = 0;
  for (const LayerWeights& L : layers) {
    b += Bytes(L.wq) + Bytes(L.wk) + Bytes(L.wv) + Bytes(L.wo) + Bytes(L.w_gate) + Bytes(L.w_up) +
         Bytes(L.w_down) + Bytes(L.router);
    b += static_cast<uint64_t>(
        static_cast<double>(Bytes(L.gate_exps) + Bytes(L.up_exps) + Bytes(L.down_exps)) *
        expert_share);
  }
  return b;
}
}  // namespace

uint64_t ModelWeights::DecodeBytesPerToken() const {
  return LayerBytes(layers, expert_share) + Bytes(output) + token_embd.row_bytes;
}

void ModelWeights::ForEachMatrix(const std::function<void(const kernels::Matrix&)>& fn) const {
  for (const LayerWeights& L : layers)
    for (const kernels::Matrix* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down,
                                     &L.router, &L.gate_exps, &L.up_exps, &L.down_exps})
      if (m->data) fn(*m);
  if (token_embd.data) fn(token_embd);
  if (output.data && !(tied_output && token_embd.data)) fn(output);
}

uint64_t ModelWeights::TotalMatrixBytes() const {
  return LayerBytes(layers, 1.0) + Bytes(token_embd) + (tied_output ? 0 : Bytes(output));
}

}  // namespace suanli
