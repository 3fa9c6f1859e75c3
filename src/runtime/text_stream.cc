#include "runtime/text_stream.h"

#include <algorithm>

namespace suanli::runtime {

size_t CompleteUtf8Prefix(std::string_view s) {
  // Look back at most 3 bytes for the start of a multi-byte character that is cut off.
  const size_t n = s.size();
  for (size_t back = 1; back <= std::min<size_t>(3, n); ++back) {
    const unsigned char c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    size_t need = 0;
    if ((c & 0xE0) == 0xC0)
      need = 2;
    else if ((c & 0xF0) == 0xE0)
      need = 3;
    else if ((c & 0xF8) == 0xF0)
      need = 4;
    else
      return n;  // ASCII or an invalid lead: complete
    return back < need ? n - back : n;
  }
  return n;
}

TextStream::TextStream(std::vector<std::string> stop) {
  for (std::string& s : stop)
    if (!s.empty()) stop_.push_back(std::move(s));
}

std::string TextStream::Push(std::string_view piece) {
  if (stopped_) return {};
  pending_.append(piece);
  // The earliest stop string wins (ties: the longest).
  size_t best = std::string::npos, best_len = 0;
  for (const std::string& s : stop_) {
    const size_t at = pending_.find(s);
    if (at != std::string::npos && (at < best || (at == best && s.size() > best_len))) {
      best = at;
      best_len = s.size();
      matched_ = s;
    }
  }
  if (best != std::string::npos) {
    stopped_ = true;
    std::string out = pending_.substr(0, best);
    pending_.clear();
    return out;
  }
  // Hold back the longest tail that is a proper prefix of a stop string.
  size_t hold = 0;
  for (const std::string& s : stop_)
    for (size_t k = std::min(s.size() - 1, pending_.size()); k > hold; --k)
      if (pending_.compare(pending_.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
  const size_t release =
      CompleteUtf8Prefix(std::string_view(pending_).substr(0, pending_.size() - hold));
  std::string out = pending_.substr(0, release);
  pending_.erase(0, release);
  return out;
}

std::string TextStream::Flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace suanli::runtime
