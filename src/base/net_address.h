// Host names in "host:port" strings, and which of them never leave this machine. One reading for
// the HTTP server's Host checks and the pool's rule that plain TCP stays on loopback.
#pragma once

#include <string>

namespace suanli {

// The host of "host:port", lower-cased: "[::1]:8080" -> "::1", "Example.com:80" -> "example.com";
// a bare IPv6 literal ("::1") is kept whole.
std::string HostOfAddress(const std::string& host_port);
// 127.0.0.0/8, ::1, localhost and *.localhost. Wildcards (0.0.0.0, ::) are not loopback.
bool IsLoopbackHost(const std::string& host);

}  // namespace suanli
