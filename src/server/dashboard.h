// The dashboard's static files (src/server/dashboard/), compiled into the binary by
// cmake/embed.cmake: served at / and /dashboard/<file> with no files on disk and no CDN.
#pragma once

#include <cstddef>
#include <string>

namespace suanli::server {

struct EmbeddedFile {
  const char* path;  // "/index.html", "/dashboard.js", ...
  const unsigned char* data;
  size_t size;
};
extern const EmbeddedFile kDashboardFiles[];  // ends with a null path

// The file for a request path ("/" is /index.html; "/dashboard/x" is /x), or nullptr.
const EmbeddedFile* FindDashboardFile(const std::string& path);
const char* MimeType(const std::string& path);

}  // namespace suanli::server
