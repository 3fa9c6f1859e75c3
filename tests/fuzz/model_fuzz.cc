// libFuzzer target for model binding: any bytes that parse as GGUF must either fail ReadHParams /
// BindWeights with a Status or yield weights whose every view lies inside the file.
#include <cstddef>
#include <cstdint>

#include "base/check.h"
#include "gguf/gguf.h"
#include "model/hparams.h"
#include "model/weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = suanli::GgufFile::Parse(data, size, "fuzz");
  if (!file.ok()) return 0;
  auto hp = suanli::ReadHParams(**file);
  if (!hp.ok()) return 0;
  auto w = suanli::BindWeights(**file, *hp);
  if (!w.ok()) return 0;
  auto inside = [&](const suanli::kernels::Matrix& m) {
    if (!m.data) return;
    const uint8_t* p = static_cast<const uint8_t*>(m.data);
    SL_CHECK(p >= data && p + m.row_bytes * static_cast<size_t>(m.rows) <= data + size);
  };
  inside(w->token_embd);
  inside(w->output);
  for (const auto& L : w->layers) {
    for (const auto* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) inside(*m);
  }
  (void)w->DecodeBytesPerToken();
  return 0;
}
