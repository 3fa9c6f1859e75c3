// Kernel benchmark on Llama-3.2-1B-shaped matrices.
//
//   decode  (n_tok = 1):   GB/s of weights streamed, as a fraction of the read bandwidth measured
//                          in the same run (copies of each matrix are cycled so that >= 512 MiB
//                          is touched: every GEMV reads from memory, as in a real forward pass);
//   prefill (n_tok = 512): GFLOP/s (2 * rows * k * n_tok per product), every shape of a layer.
//   batch   (n_tok = 2..32, a serving step: one token of each running sequence): ms per product
//                          with the weights read from memory, against the bound max(weight bytes /
//                          bandwidth, flops / the same run's prefill GFLOP/s) — 100% means a step
//                          of n sequences costs no more than streaming the weights once or
//                          computing its tokens at prefill speed.
//
// Usage: kernels_bench [--types q4_0,q8_0,...] [--threads 1,2] [--decode-only|--prefill-only|
//                      --batch-only] [--quick] [--hot]
// --hot: decode and batch read one copy of each matrix over and over (from cache for the smaller
//        ones): measures the kernel's compute throughput, which must stay well above memory
//        bandwidth.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/fp16.h"
#include "base/thread_pool.h"
#include "gguf/tensor_type.h"
#include "kernels/kernels.h"
#include "kernels/membw.h"

using namespace suanli;
using namespace suanli::kernels;

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// A rows x k matrix built from 16 distinct quantized rows (content does not change speed).
std::vector<uint8_t> MakeMatrix(TensorType t, int64_t rows, int64_t k) {
  const size_t rb = RowBytes(t, k);
  std::vector<uint8_t> proto(rb * 16);
  std::mt19937 rng(42);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  std::vector<float> f(k);
  for (int r = 0; r < 16; ++r) {
    for (auto& v : f) v = nd(rng);
    QuantizeRow(t, f.data(), proto.data() + r * rb, k);
  }
  std::vector<uint8_t> w(rb * rows);
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(w.data() + r * rb, proto.data() + (r % 16) * rb, rb);
  return w;
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  size_t p = 0;
  while (p <= s.size()) {
    size_t q = s.find(',', p);
    if (q == std::string::npos) q = s.size();
    if (q > p) out.push_back(s.substr(p, q - p));
    p = q + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> types = {"q4_0", "q8_0", "q4_k",   "q6_k",   "q5_0", "q5_k", "f16",
                                    "q4_1", "q5_1", "iq4_nl", "iq4_xs", "q2_k", "q3_k"};
  std::vector<int> threads = {1, 2};
  bool decode = true, prefill = true, batch = true, quick = false, hot = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--types" && i + 1 < argc) {
      types = Split(argv[++i]);
    } else if (a == "--threads" && i + 1 < argc) {
      threads.clear();
      for (auto& s : Split(argv[++i])) threads.push_back(std::stoi(s));
    } else if (a == "--decode-only") {
      prefill = batch = false;
    } else if (a == "--prefill-only") {
      decode = batch = false;
    } else if (a == "--batch-only") {
      decode = prefill = false;
    } else if (a == "--hot") {
      hot = true;
    } else if (a == "--quick") {
      quick = true;
    } else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  std::printf("kernel variant: %s\n", ActiveVariant().c_str());
  struct Shape {
    int64_t rows, k;
  };
  const std::vector<Shape> dshapes =
      quick ? std::vector<Shape>{{8192, 2048}}
            : std::vector<Shape>{{2048, 2048}, {8192, 2048}, {2048, 8192}, {128256, 2048}};
  // Prefill: every matrix shape of a 1B layer (q/o, k/v, gate/up, down).
  const std::vector<Shape> pshapes =
      quick ? std::vector<Shape>{{2048, 2048}}
            : std::vector<Shape>{{2048, 2048}, {512, 2048}, {8192, 2048}, {2048, 8192}};
  const double min_time = quick ? 0.3 : 1.0;

  for (int nth : threads) {
    ThreadPool pool(nth);
    double bw = 0;
    if (decode || batch) {
      bw = MeasureReadBandwidthGBs(pool, size_t{1} << 30, quick ? 3 : 6);
      std::printf("\n== threads %d: measured read bandwidth %.1f GB/s\n", nth, bw);
    }
    if (decode) {
      std::printf("decode GEMV (n_tok=1)\n%-6s %-14s %9s %9s %7s\n", "type", "rows x k", "us",
                  "GB/s", "of bw");
    }
    for (const std::string& tn : types) {
      const auto t = ParseTensorType(tn);
      if (!t) {
        std::fprintf(stderr, "unknown type %s\n", tn.c_str());
        return 2;
      }
      if (decode) {
        for (const Shape& s : dshapes) {
          const std::vector<uint8_t> w0 = MakeMatrix(*t, s.rows, s.k);
          const size_t bytes = w0.size();
          const int copies =
              hot ? 1 : static_cast<int>(std::max<size_t>(1, (size_t{512} << 20) / bytes));
          std::vector<std::vector<uint8_t>> ws(copies, w0);
          std::vector<float> x(s.k), y(s.rows);
          for (int64_t i = 0; i < s.k; ++i) x[i] = std::sin(0.1f * i);
          std::vector<uint8_t> scratch;
          double best = 1e30;
          const double t_end = Now() + min_time;
          int it = 0;
          while (Now() < t_end || it < 3) {
            Matrix m{*t, ws[it % copies].data(), s.rows, s.k, RowBytes(*t, s.k)};
            const double t0 = Now();
            MatMul(pool, m, x.data(), 1, y.data(), scratch);
            best = std::min(best, Now() - t0);
            ++it;
          }
          const double gbs = bytes / best / 1e9;
          std::printf("%-6s %6ldx%-7ld %9.1f %9.2f %6.0f%%\n", tn.c_str(),
                      static_cast<long>(s.rows), static_cast<long>(s.k), best * 1e6, gbs,
                      100 * gbs / bw);
        }
      }
    }
    // Prefill GFLOP/s per type, the compute bound of the batch section (one shape: 8192 x 2048).
    std::vector<double> prefill_gflops(types.size(), 0);
    if (prefill || batch) {
      if (!prefill)
        std::printf("\n(prefill rate of 8192x2048 measured for the batch bound)\n");
      else
        std::printf("\n== threads %d: prefill GEMM (n_tok=512)\n%-6s %-14s %9s %9s\n", nth, "type",
                    "rows x k", "ms", "GFLOP/s");
      for (size_t ti = 0; ti < types.size(); ++ti) {
        const auto t = ParseTensorType(types[ti]);
        for (const Shape& s : prefill ? pshapes : std::vector<Shape>{{8192, 2048}}) {
          const int64_t n_tok = 512;
          const std::vector<uint8_t> w = MakeMatrix(*t, s.rows, s.k);
          std::vector<float> x(n_tok * s.k), y(n_tok * s.rows);
          for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i));
          std::vector<uint8_t> scratch;
          Matrix m{*t, w.data(), s.rows, s.k, RowBytes(*t, s.k)};
          double best = 1e30;
          const double t_end = Now() + min_time;
          int it = 0;
          while (Now() < t_end || it < 2) {
            const double t0 = Now();
            MatMul(pool, m, x.data(), n_tok, y.data(), scratch);
            best = std::min(best, Now() - t0);
            ++it;
          }
          const double gflops = 2.0 * s.rows * s.k * n_tok / best / 1e9;
          if (s.rows == 8192 && s.k == 2048) prefill_gflops[ti] = gflops;
          if (prefill)
            std::printf("%-6s %6ldx%-7ld %9.2f %9.1f\n", types[ti].c_str(),
                        static_cast<long>(s.rows), static_cast<long>(s.k), best * 1e3, gflops);
        }
      }
    }
    if (batch) {
      std::printf(
          "\n== threads %d: batch GEMM (serving steps), 8192x2048 from memory\n"
          "%-6s %5s %9s %9s %7s %11s\n",
          nth, "type", "n_tok", "ms", "bound ms", "of bound", "ms per tok");
      const Shape s{8192, 2048};
      for (size_t ti = 0; ti < types.size(); ++ti) {
        const auto t = ParseTensorType(types[ti]);
        const std::vector<uint8_t> w0 = MakeMatrix(*t, s.rows, s.k);
        const size_t bytes = w0.size();
        const int copies =
            hot ? 1 : static_cast<int>(std::max<size_t>(1, (size_t{512} << 20) / bytes));
        std::vector<std::vector<uint8_t>> ws(copies, w0);
        for (int64_t n_tok : {1, 2, 4, 6, 8, 12, 16, 32}) {
          std::vector<float> x(n_tok * s.k), y(n_tok * s.rows);
          for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i));
          std::vector<uint8_t> scratch;
          double best = 1e30;
          const double t_end = Now() + min_time;
          int it = 0;
          while (Now() < t_end || it < 3) {
            Matrix m{*t, ws[it % copies].data(), s.rows, s.k, RowBytes(*t, s.k)};
            const double t0 = Now();
            MatMul(pool, m, x.data(), n_tok, y.data(), scratch);
            best = std::min(best, Now() - t0);
            ++it;
          }
          const double flops = 2.0 * s.rows * s.k * n_tok;
          const double bound = std::max(bytes / (bw * 1e9), flops / (prefill_gflops[ti] * 1e9));
          std::printf("%-6s %5ld %9.3f %9.3f %6.0f%% %11.3f\n", types[ti].c_str(),
                      static_cast<long>(n_tok), best * 1e3, bound * 1e3, 100 * bound / best,
                      best * 1e3 / n_tok);
        }
      }
    }
  }
  return 0;
}
