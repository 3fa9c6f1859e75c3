// Real chat templates against expected renderings made by Python jinja2 the way Hugging Face
// renders them: the shared test data ($SUANLI_TESTDATA/templates, 8 model families) and the
// templates committed under tests/data/templates (see the README there).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "server/template/chat_template.h"
#include "server/template/jinja.h"

namespace suanli {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

fs::path SharedTemplates() {
  fs::path dir;
  if (const char* td = std::getenv("SUANLI_TESTDATA"); td && *td) {
    dir = td;
  } else if (const char* src = std::getenv("SUANLI_SOURCE_DIR"); src && *src) {
    dir = fs::path(src) / ".." / "shared" / "testdata";
  }
  std::error_code ec;
  if (dir.empty() || !fs::is_directory(dir / "templates", ec)) return {};
  return dir / "templates";
}

fs::path RepoTemplates() {
  const char* src = std::getenv("SUANLI_SOURCE_DIR");
  if (src == nullptr || !*src) return {};
  fs::path dir = fs::path(src) / "tests" / "data" / "templates";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {};
  return dir;
}

jinja::RenderOptions FixedClock() {
  jinja::RenderOptions o;
  o.now = [] {
    jinja::CivilTime t;
    t.year = 2024;
    t.month = 7;
    t.day = 26;
    t.hour = 12;
    t.minute = 34;
    t.second = 56;
    return t;
  };
  return o;
}

// Renders every conversation of `convs` with `tmpl_path` and compares with `expected_path`.
void CheckTemplate(const fs::path& tmpl_path, const nlohmann::ordered_json& convs,
                   const fs::path& expected_path, int* checked) {
  SCOPED_TRACE(tmpl_path.filename().string());
  auto expected = nlohmann::ordered_json::parse(ReadFile(expected_path));
  auto tmpl = ChatTemplate::Load(ReadFile(tmpl_path), "<s>", "</s>");
  ASSERT_TRUE(tmpl.ok()) << tmpl.status().ToString();
  ASSERT_EQ(expected.size(), convs.size());
  for (size_t i = 0; i < convs.size(); ++i) {
    SCOPED_TRACE("conversation " + std::to_string(i));
    const auto& c = convs[i];
    ChatInputs in;
    in.messages = c["messages"];
    if (c.contains("tools")) in.tools = c["tools"];
    in.add_generation_prompt = c.value("add_generation_prompt", true);
    if (c.contains("kwargs")) in.extra = c["kwargs"];
    ApplyResult r = tmpl->Apply(in, FixedClock());
    const auto& e = expected[i];
    if (e.contains("error")) {
      ASSERT_FALSE(r.ok()) << "expected error " << e["error"] << ", got output:\n" << *r;
      std::string want = e["error"].get<std::string>();
      const std::string prefix = "TemplateError: ";
      if (want.rfind(prefix, 0) == 0) {
        EXPECT_TRUE(r.raised_by_template()) << r.status().ToString();
        EXPECT_EQ(r.status().message(), want.substr(prefix.size()));
      }
    } else {
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(*r, e["output"].get<std::string>());
    }
    ++*checked;
  }
}

TEST(RealTemplates, SharedTestData) {
  fs::path dir = SharedTemplates();
  if (dir.empty()) {
    GTEST_SKIP() << "test data not found: set SUANLI_TESTDATA (or SUANLI_SOURCE_DIR with "
                    "../shared/testdata beside it)";
  }
  auto convs = nlohmann::ordered_json::parse(ReadFile(dir / "conversations.json"));
  int checked = 0, templates = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".jinja") continue;
    fs::path expected = entry.path();
    expected.replace_extension(".expected.json");
    CheckTemplate(entry.path(), convs, expected, &checked);
    ++templates;
  }
  EXPECT_EQ(templates, 8);
  EXPECT_EQ(checked, 8 * static_cast<int>(convs.size()));
}

// The default step limit leaves real templates a wide margin: every family renders a 400-message
// conversation of some 400 KB within a tenth of it.
TEST(RealTemplates, LongConversationsFitATenthOfTheStepLimit) {
  fs::path dir = SharedTemplates();
  if (dir.empty()) GTEST_SKIP() << "test data not found";
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  messages.push_back({{"role", "system"}, {"content", "You are a helpful assistant."}});
  for (int i = 0; i < 400; ++i)
    messages.push_back({{"role", i % 2 ? "assistant" : "user"},
                        {"content", std::string(1000, static_cast<char>('a' + i % 26))}});
  int templates = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".jinja") continue;
    SCOPED_TRACE(entry.path().filename().string());
    auto tmpl = ChatTemplate::Load(ReadFile(entry.path()), "<s>", "</s>");
    ASSERT_TRUE(tmpl.ok()) << tmpl.status().ToString();
    ChatInputs in;
    in.messages = messages;
    in.add_generation_prompt = true;
    jinja::RenderOptions o = FixedClock();
    o.limits.max_steps = jinja::Limits().max_steps / 10;
    ApplyResult r = tmpl->Apply(in, o);
    // Some templates refuse a system message or alternate roles their own way: only a limit
    // would be a failure here.
    if (!r.ok())
      EXPECT_EQ(r.status().message().find("limit"), std::string::npos) << r.status().message();
    else
      EXPECT_GT(r->size(), 400'000u);
    ++templates;
  }
  EXPECT_EQ(templates, 8);
}

TEST(RealTemplates, CommittedTemplates) {
  fs::path dir = RepoTemplates();
  if (dir.empty()) GTEST_SKIP() << "SUANLI_SOURCE_DIR/tests/data/templates not found";
  auto convs = nlohmann::ordered_json::parse(ReadFile(dir / "conversations.json"));
  int checked = 0, templates = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".jinja") continue;
    fs::path expected = entry.path();
    expected.replace_extension(".expected.json");
    CheckTemplate(entry.path(), convs, expected, &checked);
    ++templates;
  }
  EXPECT_GT(templates, 0);
}

}  // namespace
}  // namespace suanli
