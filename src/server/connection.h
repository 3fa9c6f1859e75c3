// Whether the client of an HTTP request is still connected, for requests that wait a long time
// before writing anything (a non-streaming completion): cpp-httplib 0.11 gives a handler no
// socket, so the socket is found by its addresses (the connection's local and peer address and
// port are unique) and polled for the peer's close.
#pragma once

#include <string>

namespace suanli::server {

class ConnectionWatch {
 public:
  // Finds the socket of the connection local_addr:local_port <- remote_addr:remote_port.
  ConnectionWatch(const std::string& local_addr, int local_port, const std::string& remote_addr,
                  int remote_port);
  // False once the peer has closed or reset the connection. True when it cannot tell (no socket
  // found): a request is never cancelled by mistake.
  bool Alive() const;
  bool found() const { return fd_ >= 0; }
  // Ends our side (FIN) and reads and drops what the peer still sends — at most max_bytes, for at
  // most `seconds` — so closing afterwards does not reset the connection before the peer has
  // read our answer (a request refused before its body was read).
  void DrainAfterAnswer(size_t max_bytes, double seconds) const;

 private:
  int fd_ = -1;
};

}  // namespace suanli::server
