#include "server/dashboard.h"

#include <cstring>

namespace suanli::server {

const EmbeddedFile* FindDashboardFile(const std::string& path) {
  std::string p = path;
  if (p == "/") p = "/index.html";
  if (p.rfind("/dashboard/", 0) == 0) p = p.substr(10);
  for (const EmbeddedFile* f = kDashboardFiles; f->path; ++f)
    if (p == f->path) return f;
  return nullptr;
}

const char* MimeType(const std::string& path) {
  auto ends = [&](const char* s) {
    const size_t n = std::strlen(s);
    return path.size() >= n && path.compare(path.size() - n, n, s) == 0;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

}  // namespace suanli::server
