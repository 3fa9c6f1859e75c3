// delay_relay: a TCP relay that holds every byte for a fixed time in each direction, so a test
// can give a link the one-way delay of a phone network (these kernels have no netem qdisc; tbf
// shapes the bandwidth). Usage: delay_relay LISTEN_IP:PORT TARGET_IP:PORT DELAY_MS [SECONDS]
// Runs until killed, or for SECONDS when given (tests bound every helper's lifetime).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

bool ParseAddr(const std::string& s, sockaddr_in* a) {
  const size_t colon = s.rfind(':');
  if (colon == std::string::npos) return false;
  std::memset(a, 0, sizeof(*a));
  a->sin_family = AF_INET;
  a->sin_port = htons(static_cast<uint16_t>(std::atoi(s.c_str() + colon + 1)));
  return ::inet_pton(AF_INET, s.substr(0, colon).c_str(), &a->sin_addr) == 1;
}

// One direction: a reader queues chunks stamped with their release time; a writer sends each
// when it is due. Ends (and shuts the peer's write side) when the source closes.
void Pump(int from, int to, std::chrono::microseconds delay) {
  struct Chunk {
    Clock::time_point due;
    std::string data;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Chunk> q;
  bool eof = false;
  std::thread writer([&] {
    for (;;) {
      Chunk c;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return eof || !q.empty(); });
        if (q.empty()) break;
        c = std::move(q.front());
        q.pop_front();
      }
      std::this_thread::sleep_until(c.due);
      size_t off = 0;
      while (off < c.data.size()) {
        const ssize_t n = ::send(to, c.data.data() + off, c.data.size() - off, MSG_NOSIGNAL);
        if (n <= 0) return;
        off += static_cast<size_t>(n);
      }
    }
    ::shutdown(to, SHUT_WR);
  });
  std::vector<char> buf(1 << 16);
  for (;;) {
    const ssize_t n = ::recv(from, buf.data(), buf.size(), 0);
    if (n <= 0) break;
    std::lock_guard<std::mutex> lock(mu);
    q.push_back({Clock::now() + delay, std::string(buf.data(), static_cast<size_t>(n))});
    cv.notify_one();
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    eof = true;
  }
  cv.notify_one();
  writer.join();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s LISTEN_IP:PORT TARGET_IP:PORT DELAY_MS [SECONDS]\n", argv[0]);
    return 2;
  }
  sockaddr_in listen_addr, target;
  if (!ParseAddr(argv[1], &listen_addr) || !ParseAddr(argv[2], &target)) {
    std::fprintf(stderr, "delay_relay: addresses must be IPv4:PORT\n");
    return 2;
  }
  const auto delay = std::chrono::microseconds(static_cast<int64_t>(std::atof(argv[3]) * 1000));
  const double lifetime = argc > 4 ? std::atof(argv[4]) : 0;
  int ls = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(ls, reinterpret_cast<sockaddr*>(&listen_addr), sizeof(listen_addr)) != 0 ||
      ::listen(ls, 64) != 0) {
    std::fprintf(stderr, "delay_relay: cannot listen on %s: %s\n", argv[1], std::strerror(errno));
    return 1;
  }
  std::fprintf(stderr, "delay_relay: %s -> %s, %s ms each way\n", argv[1], argv[2], argv[3]);
  const auto end = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(lifetime * 1000));
  for (;;) {
    if (lifetime > 0 && Clock::now() > end) return 0;
    pollfd p{ls, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    int c = ::accept(ls, nullptr, nullptr);
    if (c < 0) continue;
    int t = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(t, reinterpret_cast<sockaddr*>(&target), sizeof(target)) != 0) {
      ::close(c);
      ::close(t);
      continue;
    }
    ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ::setsockopt(t, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    std::thread([c, t, delay] {
      std::thread back([c, t, delay] { Pump(t, c, delay); });
      Pump(c, t, delay);
      back.join();
      ::close(c);
      ::close(t);
    }).detach();
  }
}
