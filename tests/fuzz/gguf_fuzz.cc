// libFuzzer target for the GGUF reader: any byte string must yield a GgufFile or a Status, never a
// crash, an out-of-bounds read (ASan) or undefined behaviour (UBSan). When a file parses, every
// value and every tensor byte is touched, and the file is re-written and re-read to check the
// writer accepts whatever the reader accepts.
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/check.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"

namespace {

using suanli::GgufFile;
using suanli::GgufValue;

// Reads every field of a value and its nested elements.
uint64_t Touch(const GgufValue& v) {
  uint64_t h = v.u ^ static_cast<uint64_t>(v.i) ^ static_cast<uint64_t>(v.f != 0);
  for (char c : v.str) h = h * 31 + static_cast<unsigned char>(c);
  for (const GgufValue& e : v.array) h += Touch(e);
  return h;
}

void Exercise(const GgufFile& g) {
  volatile uint64_t sink = 0;
  for (const suanli::GgufKV& kv : g.metadata()) {
    sink = sink + kv.key.size() + Touch(kv.value) + kv.value.ToString(4).size();
    SL_CHECK(g.Find(kv.key) != nullptr);
    // The getters must reject or accept, never misbehave, whatever the type.
    (void)g.GetString(kv.key);
    (void)g.GetUint(kv.key);
    (void)g.GetInt(kv.key);
    (void)g.GetFloat(kv.key);
    (void)g.GetBool(kv.key);
    (void)g.GetStringArray(kv.key);
    (void)g.GetFloatArray(kv.key);
    (void)g.GetIntArray(kv.key);
  }
  const uint8_t* data_begin = g.file_data() + g.data_offset();
  const uint8_t* file_end = g.file_data() + g.file_size();
  for (const suanli::GgufTensorInfo& t : g.tensors()) {
    SL_CHECK(g.FindTensor(t.name) == &t);
    SL_CHECK(t.size_bytes == t.row_bytes() * static_cast<size_t>(t.n_rows()));
    SL_CHECK(t.data >= data_begin && t.size_bytes <= static_cast<size_t>(file_end - t.data));
    uint64_t sum = 0;
    for (size_t k = 0; k < t.size_bytes; ++k) sum += t.data[k];
    sink = sink + sum;
  }
}

// Copies metadata and tensors through the writer and checks the result reads back the same.
void RoundTrip(const GgufFile& g) {
  // A huge (but legal) alignment would make the writer pad to it; skip those.
  if (g.alignment() > 4096) return;
  suanli::GgufWriter w;
  for (const suanli::GgufKV& kv : g.metadata()) w.SetValue(kv.key, kv.value);
  for (const suanli::GgufTensorInfo& t : g.tensors()) {
    suanli::Status s = w.AddTensorBytes(t.name, t.type, t.dims, t.data, t.size_bytes);
    SL_CHECK(s.ok());
  }
  auto bytes = w.WriteToString();
  SL_CHECK(bytes.ok());
  auto again = GgufFile::Parse(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size(),
                               "roundtrip.gguf");
  SL_CHECK(again.ok());
  const GgufFile& h = **again;
  SL_CHECK(h.metadata().size() == g.metadata().size());
  for (size_t k = 0; k < g.metadata().size(); ++k) {
    SL_CHECK(h.metadata()[k].key == g.metadata()[k].key);
    SL_CHECK(h.metadata()[k].value.ToString(1 << 20) == g.metadata()[k].value.ToString(1 << 20));
  }
  SL_CHECK(h.tensors().size() == g.tensors().size());
  for (size_t k = 0; k < g.tensors().size(); ++k) {
    const suanli::GgufTensorInfo& a = g.tensors()[k];
    const suanli::GgufTensorInfo& b = h.tensors()[k];
    SL_CHECK(a.name == b.name && a.type == b.type && a.dims == b.dims);
    SL_CHECK(std::string_view(reinterpret_cast<const char*>(a.data), a.size_bytes) ==
             std::string_view(reinterpret_cast<const char*>(b.data), b.size_bytes));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto f = GgufFile::Parse(data, size, "fuzz.gguf");
  if (!f.ok()) {
    SL_CHECK(f.status().message().rfind("fuzz.gguf: ", 0) == 0);
    return 0;
  }
  Exercise(**f);
  RoundTrip(**f);
  return 0;
}
