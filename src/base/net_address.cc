#include "base/net_address.h"

#include <cctype>

namespace suanli {

namespace {
std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

std::string HostOfAddress(const std::string& host_port) {
  std::string h = Lower(host_port);
  if (!h.empty() && h[0] == '[') {
    const size_t close = h.find(']');
    return close == std::string::npos ? h : h.substr(1, close - 1);
  }
  const size_t colon = h.rfind(':');
  if (colon != std::string::npos && h.find(':') == colon) h.resize(colon);
  return h;
}

bool IsLoopbackHost(const std::string& host) {
  const std::string l = Lower(host);
  return l == "localhost" || l == "::1" || l.rfind("127.", 0) == 0 ||
         (l.size() > 10 && l.substr(l.size() - 10) == ".localhost");
}

}  // namespace suanli
