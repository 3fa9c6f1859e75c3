// Block bytes of the reference implementation's quantizers, for the kernel tests
// (tests/data/kernels/, see its README.md). For one ggml type, quantizes a deterministic row of
// N floats with ggml's public quantize API (ggml_quantize_chunk, no importance matrix), converts
// the blocks back with the type's to_float, and writes the block bytes followed by the N floats
// (little-endian f32) to OUT. Built and run by bench/reference/make_block_reference.sh; never
// linked into suanli.
//   dump_blocks TYPE_ID N OUT
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "ggml.h"

namespace {

// The input: a smooth wave plus integer-hash noise, with a few outliers and an all-zero 32-block,
// so scale searches, signs and the zero case all show up. Only +, *, sin: the same on any libm
// to well within the quantizers' steps (the floats are recomputed nowhere else anyway).
std::vector<float> Input(int64_t n) {
  std::vector<float> x(static_cast<size_t>(n));
  uint32_t h = 12345;
  for (int64_t i = 0; i < n; ++i) {
    h = h * 1664525u + 1013904223u;
    const float noise = static_cast<float>(static_cast<int32_t>(h >> 8) - (1 << 23)) / (1 << 23);
    x[i] = 0.6f * std::sin(0.37f * static_cast<float>(i)) + 0.4f * noise;
    if (i % 97 == 13) x[i] *= 6.0f;
  }
  for (int64_t i = 64; i < 96 && i < n; ++i) x[i] = 0.0f;
  return x;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: dump_blocks TYPE_ID N OUT\n");
    return 2;
  }
  const auto type = static_cast<ggml_type>(std::atoi(argv[1]));
  const int64_t n = std::atoll(argv[2]);
  if (n <= 0 || n % ggml_blck_size(type) != 0) {
    std::fprintf(stderr, "N must be a positive multiple of the block size %lld\n",
                 static_cast<long long>(ggml_blck_size(type)));
    return 2;
  }
  const std::vector<float> x = Input(n);
  std::vector<uint8_t> q(ggml_row_size(type, n));
  const size_t written = ggml_quantize_chunk(type, x.data(), q.data(), 0, 1, n, nullptr);
  if (written != q.size()) {
    std::fprintf(stderr, "quantize wrote %zu bytes, expected %zu\n", written, q.size());
    return 1;
  }
  std::vector<float> y(static_cast<size_t>(n));
  ggml_get_type_traits(type)->to_float(q.data(), y.data(), n);
  FILE* f = std::fopen(argv[3], "wb");
  if (f == nullptr || std::fwrite(q.data(), 1, q.size(), f) != q.size() ||
      std::fwrite(y.data(), sizeof(float), y.size(), f) != y.size() || std::fclose(f) != 0) {
    std::perror(argv[3]);
    return 1;
  }
  return 0;
}
