// TextStream: a sequence's generated text, released piece by piece as it becomes final.
//
// Token pieces are bytes; text is released only up to the last complete UTF-8 character (a
// multi-byte character split over tokens is held until it is whole) and never within reach of a
// stop string: the longest tail that could still grow into one of the stop strings is held back.
// When a stop string appears — anywhere, also across token boundaries — the text before it is
// released and the stop string itself never is.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace suanli::runtime {

class TextStream {
 public:
  explicit TextStream(std::vector<std::string> stop = {});

  // Appends a token's piece; returns the text now final (possibly empty). After a stop string
  // matched, stopped() is true and further pieces are ignored.
  std::string Push(std::string_view piece);
  // The rest at the end of generation (held-back bytes, an incomplete character included).
  std::string Flush();
  bool stopped() const { return stopped_; }
  const std::string& matched() const { return matched_; }  // the stop string that matched

 private:
  std::vector<std::string> stop_;
  std::string pending_;  // not yet released
  bool stopped_ = false;
  std::string matched_;
};

// Length of the longest prefix of `s` that ends on a complete UTF-8 sequence (invalid bytes count
// as complete so they never block the stream).
size_t CompleteUtf8Prefix(std::string_view s);

}  // namespace suanli::runtime
