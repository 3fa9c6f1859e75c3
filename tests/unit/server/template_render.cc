// template_render: renders templates with suanli::jinja for differential tests against jinja2.
//
// Reads JSON lines on stdin: {"template": "...", "context": {...}}; writes one JSON line per
// input: {"output": "..."} or {"error": "...", "raised": bool}. strftime_now sees 2024-07-26
// 12:34:56 (a Friday), as make_template_expectations.py fixes it.
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "server/template/jinja.h"

int main() {
  std::string line;
  suanli::jinja::RenderOptions opts;
  opts.now = [] {
    suanli::jinja::CivilTime t;
    t.year = 2024;
    t.month = 7;
    t.day = 26;
    t.hour = 12;
    t.minute = 34;
    t.second = 56;
    return t;
  };
  while (std::getline(std::cin, line)) {
    nlohmann::ordered_json out;
    auto in = nlohmann::ordered_json::parse(line, nullptr, false);
    if (in.is_discarded()) {
      out["error"] = "bad input line";
    } else {
      auto t = suanli::jinja::Template::Parse(in["template"].get<std::string>());
      if (!t.ok()) {
        out["error"] = t.status().message();
        out["parse"] = true;
      } else {
        suanli::jinja::RenderFailure f;
        auto r = (*t)->Render(in["context"], opts, &f);
        if (r.ok()) {
          out["output"] = *r;
        } else {
          out["error"] = f.message;
          out["raised"] = f.kind == suanli::jinja::ErrorKind::kRaised;
        }
      }
    }
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n"
              << std::flush;
  }
  return 0;
}
