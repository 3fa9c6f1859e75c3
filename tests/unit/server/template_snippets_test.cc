// Every snippet of tests/data/jinja_snippets.json (rendered by Python jinja2 with Hugging Face's
// settings; see make_template_expectations.py and template_snippet_cases.py) must render to the
// same output, or fail where Python failed (with the same message for raise_exception).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "server/template/jinja.h"

namespace suanli::jinja {
namespace {

namespace fs = std::filesystem;

TEST(Snippets, MatchPython) {
  const char* src = std::getenv("SUANLI_SOURCE_DIR");
  if (src == nullptr || !*src) GTEST_SKIP() << "SUANLI_SOURCE_DIR not set";
  fs::path path = fs::path(src) / "tests" / "data" / "jinja_snippets.json";
  std::ifstream in(path, std::ios::binary);
  if (!in) GTEST_SKIP() << path << " not found";
  std::stringstream ss;
  ss << in.rdbuf();
  auto cases = nlohmann::ordered_json::parse(ss.str());
  RenderOptions opts;
  opts.now = [] {
    CivilTime t;
    t.year = 2024;
    t.month = 7;
    t.day = 26;
    t.hour = 12;
    t.minute = 34;
    t.second = 56;
    return t;
  };
  int n = 0;
  for (const auto& c : cases) {
    std::string src_text = c["template"].get<std::string>();
    SCOPED_TRACE(src_text);
    auto t = Template::Parse(src_text);
    if (c.contains("parse")) {
      EXPECT_FALSE(t.ok()) << "Python failed to parse: " << c["error"];
      ++n;
      continue;
    }
    if (!t.ok()) {
      // Unsupported constructs fail at load; Python must have failed too (e.g. include).
      EXPECT_TRUE(c.contains("error")) << t.status().ToString();
      ++n;
      continue;
    }
    RenderFailure f;
    auto r = (*t)->Render(c["context"], opts, &f);
    if (c.contains("output")) {
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(*r, c["output"].get<std::string>());
    } else {
      std::string err = c["error"].get<std::string>();
      EXPECT_FALSE(r.ok()) << "Python failed with " << err << "; we rendered: " << *r;
      if (err.rfind("TemplateError: ", 0) == 0 && !r.ok()) {
        EXPECT_EQ(f.kind, ErrorKind::kRaised);
        EXPECT_EQ(f.message, err.substr(15));
      }
    }
    ++n;
  }
  EXPECT_GT(n, 100);
}

}  // namespace
}  // namespace suanli::jinja
