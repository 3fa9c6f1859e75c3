#include "server/metrics.h"

#include <gtest/gtest.h>

namespace suanli::server {
namespace {

TEST(Metrics, PrometheusTextFormat) {
  Metrics m;
  m.DeclareCounter("suanli_requests_total", "Requests.");
  m.DeclareGauge("suanli_queue_depth", "Waiting.");
  m.DeclareHistogram("suanli_ttft_seconds", "First token.", {0.1, 1});
  m.Add("suanli_requests_total", 1, {{"endpoint", "/v1/chat"}, {"status", "200"}});
  m.Add("suanli_requests_total", 2, {{"endpoint", "/v1/chat"}, {"status", "200"}});
  m.Set("suanli_queue_depth", 3);
  m.Observe("suanli_ttft_seconds", 0.05);
  m.Observe("suanli_ttft_seconds", 0.5);
  m.Observe("suanli_ttft_seconds", 5);
  m.Set("suanli_queue_depth", 4, {{"device", "a\"b\\c\nd"}});
  const std::string t = m.Render();
  EXPECT_NE(t.find("# TYPE suanli_requests_total counter\n"), std::string::npos);
  EXPECT_NE(t.find("suanli_requests_total{endpoint=\"/v1/chat\",status=\"200\"} 3\n"),
            std::string::npos);
  EXPECT_NE(t.find("suanli_queue_depth 3\n"), std::string::npos);
  EXPECT_NE(t.find("suanli_queue_depth{device=\"a\\\"b\\\\c\\nd\"} 4\n"), std::string::npos);
  EXPECT_NE(t.find("suanli_ttft_seconds_bucket{le=\"0.1\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("suanli_ttft_seconds_bucket{le=\"1\"} 2\n"), std::string::npos);
  EXPECT_NE(t.find("suanli_ttft_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(t.find("suanli_ttft_seconds_count 3\n"), std::string::npos);
  EXPECT_NE(t.find("suanli_ttft_seconds_sum 5.55\n"), std::string::npos);
  EXPECT_EQ(m.Value("suanli_ttft_seconds"), 3);
  m.ClearSeries("suanli_queue_depth");
  EXPECT_EQ(m.Render().find("suanli_queue_depth 3"), std::string::npos);
}

}  // namespace
}  // namespace suanli::server
