// GGUF quantized block formats, bit-exact with the files llama.cpp (ggml) writes.
//
// All multi-byte fields are little-endian; `f16` fields hold IEEE half bits (base/fp16.h).
// A row of n elements is n / QK blocks laid out back to back, with no padding between blocks.
//
// Element order inside a block (index i is the position in the dequantized row):
//   Q4_0  (32):  i < 16: low nibble of qs[i];  i >= 16: high nibble of qs[i - 16].
//                x = d * (q - 8)
//   Q5_0  (32):  low 4 bits as Q4_0; bit 4 of element i is bit i of the little-endian u32 qh.
//                x = d * (q - 16)
//   Q8_0  (32):  x = d * qs[i]
//   Q4_1  (32):  nibbles as Q4_0.  x = d * q + m   (q in [0, 15]; m is the block's minimum)
//   Q5_1  (32):  5-bit levels as Q5_0 (qh bit i = bit 4 of element i).  x = d * q + m
//   IQ4_NL (32): nibbles as Q4_0, each an index into the non-linear table kIq4nlValues.
//                x = d * kIq4nlValues[q]
//   Q4_K  (256): 8 sub-blocks of 32, each with a 6-bit scale sc_j and 6-bit min m_j
//                (packed in scales[12], see UnpackScaleMinK4). Elements 64c..64c+31 are the
//                low nibbles of qs[32c..32c+31], elements 64c+32..64c+63 their high nibbles.
//                x = d * sc_j * q - dmin * m_j,  j = i / 32
//   Q5_K  (256): as Q4_K plus a 5th bit: element 64c + l (l < 32) takes bit 2c of qh[l],
//                element 64c + 32 + l takes bit 2c + 1 of qh[l].
//                x = d * sc_j * q - dmin * m_j,  q in [0, 31]
//   Q6_K  (256): two halves of 128; in half h, for l < 32:
//                  element 128h + l      = ql[64h + l] & 15      | ((qh[32h + l] >> 0) & 3) << 4
//                  element 128h + 32 + l = ql[64h + 32 + l] & 15 | ((qh[32h + l] >> 2) & 3) << 4
//                  element 128h + 64 + l = ql[64h + l] >> 4      | ((qh[32h + l] >> 4) & 3) << 4
//                  element 128h + 96 + l = ql[64h + 32 + l] >> 4 | ((qh[32h + l] >> 6) & 3) << 4
//                x = d * scales[i / 16] * (q - 32)
//   IQ4_XS (256): 8 sub-blocks of 32; sub-block j has the 6-bit scale
//                ls_j = (scales_l[j / 2] >> 4 (j mod 2)) & 15 | ((scales_h >> 2j) & 3) << 4,
//                and its elements 32j + l, 32j + 16 + l (l < 16) are the low and high nibbles of
//                qs[16j + l].  x = (d * (ls_j - 32)) * kIq4nlValues[q]   (two roundings)
//   Q2_K  (256): 16 groups of 16; scales[g] holds the 4-bit scale (low nibble) and 4-bit min
//                (high nibble) of group g = i / 16. In half h (0, 1) and for j < 4, l < 32,
//                element 128h + 32j + l is q = (qs[32h + l] >> 2j) & 3.
//                x = (d * sc_g) * q - dmin * m_g
//   Q3_K  (256): 16 groups of 16 with signed 6-bit scales sc_g - 32 (UnpackScalesQ3K). In half
//                h (0, 1) and for j < 4, l < 32, element 128h + 32j + l has the low 2 bits
//                (qs[32h + l] >> 2j) & 3 and the 3rd bit (hmask[l] >> (4h + j)) & 1; its signed
//                level is q = low | 3rd << 2, minus 4.  x = (d * (sc_g - 32)) * (q - 4), g = i / 16
//   Q8_K  (256): activation format of the K-quants: x = d * qs[i]; bsums[j] = sum of
//                qs[16j .. 16j + 15].
#pragma once

#include <cstdint>

namespace suanli::kernels {

constexpr int kQK = 32;     // block size of Q4_0, Q5_0, Q8_0
constexpr int kQK_K = 256;  // super-block size of the K-quants

// The 16 levels of IQ4_NL and IQ4_XS (ggml's kvalues_iq4nl), denser near zero.
inline constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

struct block_q4_0 {
  uint16_t d;      // f16 scale
  uint8_t qs[16];  // nibbles: elements 0..15 low, 16..31 high
};
static_assert(sizeof(block_q4_0) == 18, "Q4_0 block must be 18 bytes");

struct block_q5_0 {
  uint16_t d;      // f16 scale
  uint8_t qh[4];   // 5th bits, u32 little-endian, bit i = element i
  uint8_t qs[16];  // low 4 bits as in Q4_0
};
static_assert(sizeof(block_q5_0) == 22, "Q5_0 block must be 22 bytes");

struct block_q8_0 {
  uint16_t d;     // f16 scale
  int8_t qs[32];  // x = d * qs[i]
};
static_assert(sizeof(block_q8_0) == 34, "Q8_0 block must be 34 bytes");

struct block_q4_1 {
  uint16_t d;      // f16 step
  uint16_t m;      // f16 offset (the block's minimum)
  uint8_t qs[16];  // nibbles as in Q4_0
};
static_assert(sizeof(block_q4_1) == 20, "Q4_1 block must be 20 bytes");

struct block_q5_1 {
  uint16_t d;      // f16 step
  uint16_t m;      // f16 offset
  uint8_t qh[4];   // 5th bits, u32 little-endian, bit i = element i
  uint8_t qs[16];  // low 4 bits as in Q4_0
};
static_assert(sizeof(block_q5_1) == 24, "Q5_1 block must be 24 bytes");

struct block_iq4_nl {
  uint16_t d;      // f16 scale
  uint8_t qs[16];  // table indices, nibbles as in Q4_0
};
static_assert(sizeof(block_iq4_nl) == 18, "IQ4_NL block must be 18 bytes");

struct block_iq4_xs {
  uint16_t d;           // f16 super-block scale
  uint16_t scales_h;    // high 2 bits of the 8 sub-block scales
  uint8_t scales_l[4];  // low 4 bits, two per byte (sub-block 2i low nibble, 2i + 1 high)
  uint8_t qs[128];      // table indices: sub-block j at qs[16j .. 16j + 15]
};
static_assert(sizeof(block_iq4_xs) == 136, "IQ4_XS block must be 136 bytes");

// 6-bit scale of IQ4_XS sub-block j (0..7), before the −32.
inline int ScaleIq4Xs(const block_iq4_xs& b, int j) {
  return ((b.scales_l[j / 2] >> (4 * (j % 2))) & 15) | (((b.scales_h >> (2 * j)) & 3) << 4);
}

struct block_q2_K {
  uint8_t scales[16];  // per group of 16: scale (low nibble), min (high nibble)
  uint8_t qs[64];      // 2-bit levels
  uint16_t d;          // f16 super-block scale for the scales
  uint16_t dmin;       // f16 super-block scale for the mins
};
static_assert(sizeof(block_q2_K) == 84, "Q2_K block must be 84 bytes");

struct block_q3_K {
  uint8_t hmask[32];   // 3rd bits
  uint8_t qs[64];      // low 2 bits
  uint8_t scales[12];  // 16 scales, 6 bits each (UnpackScalesQ3K)
  uint16_t d;          // f16 super-block scale
};
static_assert(sizeof(block_q3_K) == 110, "Q3_K block must be 110 bytes");

// The 16 signed scales of a Q3_K block (sc_g - 32 in [-32, 31]): the low 4 bits of scale g are
// the low (g < 8) or high (g >= 8) nibble of s[g mod 8], its high 2 bits are bits 2(g / 4) and
// 2(g / 4) + 1 of s[8 + g mod 4].
inline void UnpackScalesQ3K(const uint8_t* s, int8_t* sc) {
  for (int g = 0; g < 16; ++g) {
    const int lo = g < 8 ? (s[g] & 15) : (s[g - 8] >> 4);
    const int hi = (s[8 + g % 4] >> (2 * (g / 4))) & 3;
    sc[g] = static_cast<int8_t>((lo | (hi << 4)) - 32);
  }
}
// Inverse of UnpackScalesQ3K for sc[16] in [-32, 31].
inline void PackScalesQ3K(const int8_t* sc, uint8_t* s) {
  for (int j = 0; j < 12; ++j) s[j] = 0;
  for (int g = 0; g < 16; ++g) {
    const int u = sc[g] + 32;
    s[g % 8] = static_cast<uint8_t>(s[g % 8] | ((u & 15) << (g < 8 ? 0 : 4)));
    s[8 + g % 4] = static_cast<uint8_t>(s[8 + g % 4] | ((u >> 4) << (2 * (g / 4))));
  }
}

struct block_q4_K {
  uint16_t d;          // f16 super-block scale for the quantized scales
  uint16_t dmin;       // f16 super-block scale for the quantized mins
  uint8_t scales[12];  // 8 scales and 8 mins, 6 bits each (UnpackScaleMinK4)
  uint8_t qs[128];     // nibbles
};
static_assert(sizeof(block_q4_K) == 144, "Q4_K block must be 144 bytes");

struct block_q5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[32];   // 5th bits
  uint8_t qs[128];  // low nibbles
};
static_assert(sizeof(block_q5_K) == 176, "Q5_K block must be 176 bytes");

struct block_q6_K {
  uint8_t ql[128];    // low 4 bits
  uint8_t qh[64];     // high 2 bits
  int8_t scales[16];  // one per 16 elements
  uint16_t d;         // f16 super-block scale
};
static_assert(sizeof(block_q6_K) == 210, "Q6_K block must be 210 bytes");

struct block_q8_K {
  float d;
  int8_t qs[256];
  int16_t bsums[16];  // sums of groups of 16 qs
};
static_assert(sizeof(block_q8_K) == 292, "Q8_K block must be 292 bytes");

// 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block:
//   j < 4:  sc = s[j] & 63,                         m = s[j + 4] & 63
//   j >= 4: sc = (s[j + 4] & 15) | (s[j - 4] >> 6) << 4, m = (s[j + 4] >> 4) | (s[j] >> 6) << 4
inline void UnpackScaleMinK4(int j, const uint8_t* s, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

// All 8 scales and mins at once (sc[8], m[8]).
inline void UnpackScalesMinsK4(const uint8_t* s, uint8_t* sc, uint8_t* m) {
  for (int j = 0; j < 8; ++j) UnpackScaleMinK4(j, s, &sc[j], &m[j]);
}

// Inverse of UnpackScaleMinK4 for sc[8], m[8] in [0, 63].
inline void PackScalesMinsK4(const uint8_t* sc, const uint8_t* m, uint8_t* s) {
  for (int j = 0; j < 12; ++j) s[j] = 0;
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      s[j] = static_cast<uint8_t>(sc[j] & 63);
      s[j + 4] = static_cast<uint8_t>(m[j] & 63);
    } else {
      s[j + 4] = static_cast<uint8_t>((sc[j] & 0xF) | ((m[j] & 0xF) << 4));
      s[j - 4] |= static_cast<uint8_t>((sc[j] >> 4) << 6);
      s[j] |= static_cast<uint8_t>((m[j] >> 4) << 6);
    }
  }
}

}  // namespace suanli::kernels
