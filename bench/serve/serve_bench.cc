// serve_bench: a load generator for OpenAI-compatible servers (suanli serve, llama.cpp's
// llama-server): N clients each send R streaming /v1/completions requests with prompts of random
// token ids (so every server sees the same tokens), greedy, ignoring end-of-generation, and the
// bench reports aggregate generated tokens/s, time to first token and inter-token latency
// (p50/p99), measured at the client as a user sees them.
//
//   serve_bench --url http://127.0.0.1:8080 --clients 16 --requests 1 --prompt 128 --gen 256
//               [--key KEY] [--vocab 128256] [--prefix N] [--seed S] [--json] [--label NAME]
// --prefix N: every prompt starts with the same N tokens (prefix-cache measurements).
// --late-prompt N: one more request with an N-token prompt starts once the clients are
//   decoding; the inter-token latency of the others while it is prefilled is reported.
#include <httplib.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

struct Args {
  std::string url = "http://127.0.0.1:8080";
  std::string key, label = "server";
  int clients = 1, requests = 1;
  int prompt = 128, gen = 256, vocab = 32000, prefix = 0, late_prompt = 0;
  uint64_t seed = 1;
  bool json = false;
};

struct Sample {
  double ttft = 0;
  std::vector<double> itl;          // between consecutive chunks with text
  std::vector<double> chunk_times;  // since the run started
  int tokens = 0;
  bool ok = false;
  std::string error;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

Sample Request(const Args& a, const std::vector<int>& prompt, Clock::time_point run_start) {
  Sample s;
  const size_t scheme = a.url.find("://");
  httplib::Client cli(
      a.url.substr(0, a.url.find('/', scheme == std::string::npos ? 0 : scheme + 3)));
  cli.set_read_timeout(600, 0);
  cli.set_connection_timeout(10, 0);
  // logprobs: every token then comes as a chunk of its own (random-weight models often draw
  // tokens with no text, which a server would not send).
  nlohmann::json body = {{"prompt", prompt}, {"max_tokens", a.gen},
                         {"temperature", 0}, {"ignore_eos", true},
                         {"stream", true},   {"cache_prompt", true},
                         {"logprobs", 1},    {"stream_options", {{"include_usage", true}}}};
  httplib::Headers h;
  if (!a.key.empty()) h.emplace("Authorization", "Bearer " + a.key);
  const auto t0 = Clock::now();
  Clock::time_point last{};
  std::string buf;
  int chunks = 0;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.headers = h;
  req.headers.emplace("Content-Type", "application/json");
  req.body = body.dump();
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    buf.append(data, n);
    size_t i;
    while ((i = buf.find("\n\n")) != std::string::npos) {
      std::string line = buf.substr(0, i);
      buf.erase(0, i + 2);
      if (line.rfind("data: ", 0) != 0) continue;
      line = line.substr(6);
      if (line == "[DONE]") continue;
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded()) continue;
      if (j.contains("usage") && j["usage"].is_object())
        s.tokens = j["usage"].value("completion_tokens", s.tokens);
      if (!j.contains("choices") || j["choices"].empty()) continue;
      const auto& c = j["choices"][0];
      const bool text =
          c.contains("text") && c["text"].is_string() && !c["text"].get<std::string>().empty();
      const bool probs = c.contains("logprobs") && !c["logprobs"].is_null();
      if (!text && !probs) continue;
      const auto now = Clock::now();
      if (chunks++ == 0)
        s.ttft = Seconds(t0, now);
      else
        s.itl.push_back(Seconds(last, now));
      s.chunk_times.push_back(Seconds(run_start, now));
      last = now;
    }
    return true;
  };
  auto res = cli.send(req);
  if (!res || res->status != 200) {
    s.error = res ? "HTTP " + std::to_string(res->status) : httplib::to_string(res.error());
    return s;
  }
  if (s.tokens == 0) s.tokens = chunks;  // servers without a usage chunk
  s.ok = true;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "serve_bench: %s needs a value\n", k.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (k == "--url")
      a.url = next();
    else if (k == "--key")
      a.key = next();
    else if (k == "--label")
      a.label = next();
    else if (k == "--clients")
      a.clients = std::atoi(next().c_str());
    else if (k == "--requests")
      a.requests = std::atoi(next().c_str());
    else if (k == "--prompt")
      a.prompt = std::atoi(next().c_str());
    else if (k == "--gen")
      a.gen = std::atoi(next().c_str());
    else if (k == "--vocab")
      a.vocab = std::atoi(next().c_str());
    else if (k == "--prefix")
      a.prefix = std::atoi(next().c_str());
    else if (k == "--late-prompt")
      a.late_prompt = std::atoi(next().c_str());
    else if (k == "--seed")
      a.seed = std::strtoull(next().c_str(), nullptr, 10);
    else if (k == "--json")
      a.json = true;
    else if (k == "--help" || k == "-h") {
      std::puts(
          "usage: serve_bench --url URL [--clients N] [--requests R] [--prompt T] [--gen T] "
          "[--vocab V] [--prefix N] [--late-prompt N] [--key K] [--seed S] [--json] "
          "[--label NAME]");
      return 0;
    } else {
      std::fprintf(stderr, "serve_bench: unknown option %s (see --help)\n", k.c_str());
      return 2;
    }
  }
  if (a.clients < 1 || a.requests < 1 || a.prompt < 1 || a.gen < 1 || a.vocab < 2) {
    std::fprintf(stderr, "serve_bench: counts must be positive\n");
    return 2;
  }
  // Token ids from a fixed stream; ids below 3 are left out (special tokens of most vocabularies).
  std::mt19937_64 rng(a.seed);
  std::uniform_int_distribution<int> pick(3, a.vocab - 1);
  std::vector<int> shared(static_cast<size_t>(a.prefix));
  for (int& t : shared) t = pick(rng);
  std::vector<std::vector<int>> prompts;
  for (int i = 0; i < a.clients * a.requests; ++i) {
    std::vector<int> p = shared;
    while (static_cast<int>(p.size()) < a.prefix + a.prompt) p.push_back(pick(rng));
    prompts.push_back(std::move(p));
  }
  std::vector<Sample> samples(prompts.size());
  std::mutex mu;
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < a.clients; ++c)
    threads.emplace_back([&, c] {
      for (int r = 0; r < a.requests; ++r) {
        const size_t i = static_cast<size_t>(c * a.requests + r);
        Sample s = Request(a, prompts[i], start);
        std::lock_guard<std::mutex> lock(mu);
        samples[i] = std::move(s);
      }
    });
  // A long prompt arriving while the others decode.
  Sample late;
  double late_start = 0, late_end = 0;
  if (a.late_prompt > 0) {
    std::this_thread::sleep_for(std::chrono::seconds(2));
    std::vector<int> p(static_cast<size_t>(a.late_prompt));
    for (int& t : p) t = pick(rng);
    late_start = Seconds(start, Clock::now());
    Args one = a;
    one.gen = 1;
    late = Request(one, p, start);
    late_end = Seconds(start, Clock::now());
    if (!late.ok)
      std::fprintf(stderr, "serve_bench: the late prompt failed: %s\n", late.error.c_str());
  }
  for (auto& t : threads) t.join();
  const double wall = Seconds(start, Clock::now());
  std::vector<double> ttft, itl, itl_during;
  int64_t tokens = 0;
  int failed = 0;
  double single_decode = 0;
  for (const Sample& s : samples) {
    if (!s.ok) {
      ++failed;
      std::fprintf(stderr, "serve_bench: a request failed: %s\n", s.error.c_str());
      continue;
    }
    ttft.push_back(s.ttft);
    itl.insert(itl.end(), s.itl.begin(), s.itl.end());
    tokens += s.tokens;
    if (!s.chunk_times.empty() && s.chunk_times.size() > 1)
      single_decode = static_cast<double>(s.chunk_times.size() - 1) /
                      (s.chunk_times.back() - s.chunk_times.front());
    for (size_t k = 1; k < s.chunk_times.size(); ++k)
      if (s.chunk_times[k] >= late_start && s.chunk_times[k - 1] <= late_end && late_end > 0)
        itl_during.push_back(s.chunk_times[k] - s.chunk_times[k - 1]);
  }
  const double agg = static_cast<double>(tokens) / wall;
  nlohmann::json j = {{"label", a.label},
                      {"clients", a.clients},
                      {"requests", static_cast<int>(samples.size()) - failed},
                      {"failed", failed},
                      {"prompt_tokens", a.prefix + a.prompt},
                      {"gen_tokens", a.gen},
                      {"wall_seconds", wall},
                      {"generated_tokens", tokens},
                      {"aggregate_tok_s", agg},
                      {"decode_tok_s_per_stream", single_decode},
                      {"ttft_p50_ms", 1e3 * Percentile(ttft, 0.5)},
                      {"ttft_p99_ms", 1e3 * Percentile(ttft, 0.99)},
                      {"itl_p50_ms", 1e3 * Percentile(itl, 0.5)},
                      {"itl_p99_ms", 1e3 * Percentile(itl, 0.99)}};
  if (a.late_prompt > 0) {
    j["late_prompt_tokens"] = a.late_prompt;
    j["late_prompt_ttft_ms"] = 1e3 * late.ttft;
    j["itl_p99_during_late_prompt_ms"] = 1e3 * Percentile(itl_during, 0.99);
    j["itl_max_during_late_prompt_ms"] =
        itl_during.empty() ? 0.0 : 1e3 * *std::max_element(itl_during.begin(), itl_during.end());
  }
  if (a.json) {
    std::puts(j.dump().c_str());
  } else {
    std::printf(
        "%s: %d clients x %d requests, prompt %d, gen %d: %.1f tok/s in all (%.2f s); "
        "TTFT p50 %.0f ms p99 %.0f ms; ITL p50 %.1f ms p99 %.1f ms%s\n",
        a.label.c_str(), a.clients, a.requests, a.prefix + a.prompt, a.gen, agg, wall,
        1e3 * Percentile(ttft, 0.5), 1e3 * Percentile(ttft, 0.99), 1e3 * Percentile(itl, 0.5),
        1e3 * Percentile(itl, 0.99), failed ? " (some requests failed)" : "");
    if (a.late_prompt > 0)
      std::printf(
          "  a %d-token prompt arriving mid-stream: its TTFT %.0f ms; the others' ITL p99 "
          "%.1f ms, max %.1f ms meanwhile\n",
          a.late_prompt, j["late_prompt_ttft_ms"].get<double>(),
          j["itl_p99_during_late_prompt_ms"].get<double>(),
          j["itl_max_during_late_prompt_ms"].get<double>());
  }
  return failed ? 1 : 0;
}
