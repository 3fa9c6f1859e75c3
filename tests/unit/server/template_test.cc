// Unit tests of the Jinja interpreter: constructs, filters, tests, methods, Python printing,
// undefined semantics, error messages and the sandbox limits.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "server/template/chat_template.h"
#include "server/template/jinja.h"

namespace suanli::jinja {
namespace {

std::string Render(const std::string& src,
                   const nlohmann::ordered_json& ctx = nlohmann::ordered_json::object()) {
  auto t = Template::Parse(src);
  if (!t.ok()) return "PARSE ERROR: " + t.status().message();
  auto r = (*t)->Render(ctx);
  if (!r.ok()) return "ERROR: " + r.status().message();
  return *r;
}

TEST(Jinja, Basics) { EXPECT_EQ(Render("Hello {{ name }}!", {{"name", "World"}}), "Hello World!"); }

}  // namespace
}  // namespace suanli::jinja
