#include "cluster/discovery.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "base/timer.h"

namespace suanli::cluster {

namespace {

constexpr const char* kGroup = "239.255.42.99";
constexpr const char* kQuery = "suanli-discover-v1";
constexpr const char* kAnswer = "suanli-worker-v1 ";

int DiscoveryPort() {
  if (const char* p = std::getenv("SUANLI_DISCOVERY_PORT")) {
    const int v = std::atoi(p);
    if (v > 0 && v < 65536) return v;
  }
  return 47077;
}

}  // namespace

StatusOr<std::unique_ptr<Announcer>> Announcer::Start(const std::string& listen_address) {
  const size_t colon = listen_address.rfind(':');
  const int port = colon == std::string::npos ? 0 : std::atoi(listen_address.c_str() + colon + 1);
  if (port <= 0) return InvalidArgument("announce: no port in " + listen_address);
  std::unique_ptr<Announcer> a(new Announcer());
  a->port_ = port;
  a->fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (a->fd_ < 0) return IoError(std::string("announce: socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(a->fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(DiscoveryPort()));
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (::bind(a->fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    return IoError("announce: bind UDP port " + std::to_string(DiscoveryPort()) + ": " +
                   std::strerror(errno));
  ip_mreq mreq{};
  ::inet_pton(AF_INET, kGroup, &mreq.imr_multiaddr);
  mreq.imr_interface.s_addr = htonl(INADDR_ANY);
  if (::setsockopt(a->fd_, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof(mreq)) != 0)
    return IoError(std::string("announce: join multicast group: ") + std::strerror(errno) +
                   " (does this host have a multicast route?)");
  Announcer* self = a.get();
  a->thread_ = std::thread([self] {
    char buf[256];
    while (!self->stop_) {
      pollfd p{self->fd_, POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      sockaddr_in from{};
      socklen_t len = sizeof(from);
      const ssize_t n =
          ::recvfrom(self->fd_, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n != static_cast<ssize_t>(std::strlen(kQuery)) || std::memcmp(buf, kQuery, n) != 0)
        continue;  // not ours
      const std::string answer = kAnswer + std::to_string(self->port_);
      ::sendto(self->fd_, answer.data(), answer.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
    }
  });
  return a;
}

void Announcer::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Announcer::~Announcer() { Stop(); }

StatusOr<std::vector<std::string>> DiscoverWorkers(double seconds) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return IoError(std::string("discover: socket: ") + std::strerror(errno));
  unsigned char ttl = 1, loop = 1;  // this LAN only; workers on this host too
  ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl));
  ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop));
  sockaddr_in group{};
  group.sin_family = AF_INET;
  group.sin_port = htons(static_cast<uint16_t>(DiscoveryPort()));
  ::inet_pton(AF_INET, kGroup, &group.sin_addr);
  std::vector<std::string> found;
  const double end = NowSeconds() + seconds;
  double next_query = 0;
  while (NowSeconds() < end) {
    if (NowSeconds() >= next_query) {  // a few queries: UDP may drop one
      if (::sendto(fd, kQuery, std::strlen(kQuery), 0, reinterpret_cast<sockaddr*>(&group),
                   sizeof(group)) < 0) {
        const std::string why = std::strerror(errno);
        ::close(fd);
        return IoError("discover: cannot send the multicast query: " + why);
      }
      next_query = NowSeconds() + seconds / 3;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char buf[256];
    sockaddr_in from{};
    socklen_t len = sizeof(from);
    const ssize_t n =
        ::recvfrom(fd, buf, sizeof(buf) - 1, 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n <= 0) continue;
    buf[n] = '\0';
    const size_t prefix = std::strlen(kAnswer);
    if (static_cast<size_t>(n) <= prefix || std::memcmp(buf, kAnswer, prefix) != 0) continue;
    const int port = std::atoi(buf + prefix);
    if (port <= 0 || port > 65535) continue;
    char ip[INET_ADDRSTRLEN];
    ::inet_ntop(AF_INET, &from.sin_addr, ip, sizeof(ip));
    const std::string addr = std::string(ip) + ":" + std::to_string(port);
    if (std::find(found.begin(), found.end(), addr) == found.end()) found.push_back(addr);
  }
  ::close(fd);
  return found;
}

}  // namespace suanli::cluster
