// json.dumps as transformers' tojson filter calls it: ensure_ascii, indent, separators and
// sort_keys as Python's json module applies them, Python float repr, NaN/Infinity, and
// TypeError for values JSON cannot hold ("Object of type Undefined is not JSON serializable").
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "server/template/interpreter.h"
#include "server/template/unicode.h"

namespace suanli::jinja {
namespace {

class Dumper {
 public:
  Dumper(Interpreter& in, const JsonDumpOptions& o) : in_(in), o_(o) {}

  void Dump(const Value& v, int level) {
    in_.Step();
    if (out_.size() > in_.max_value_bytes()) in_.LimitExceeded("value size");
    switch (v.kind()) {
      case ValueKind::kNone:
        out_ += "null";
        return;
      case ValueKind::kBool:
        out_ += v.b() ? "true" : "false";
        return;
      case ValueKind::kInt:
        out_ += std::to_string(v.i());
        return;
      case ValueKind::kFloat:
        out_ += FloatText(v.f());
        return;
      case ValueKind::kString:
        String(v.str());
        return;
      case ValueKind::kList: {
        ListKind k = v.list_kind();
        if (k != ListKind::kList && k != ListKind::kTuple) break;
        const auto& items = v.items();
        if (items.empty()) {
          out_ += "[]";
          return;
        }
        out_ += '[';
        for (size_t i = 0; i < items.size(); ++i) {
          if (i) out_ += o_.item_sep;
          Newline(level + 1);
          Dump(items[i], level + 1);
        }
        Newline(level);
        out_ += ']';
        return;
      }
      case ValueKind::kDict: {
        const auto& d = v.dict();
        if (d.size() == 0) {
          out_ += "{}";
          return;
        }
        std::vector<const std::pair<Value, Value>*> entries;
        for (const auto& kv : d.items) entries.push_back(&kv);
        if (o_.sort_keys) {
          std::stable_sort(entries.begin(), entries.end(),
                           [](const auto* a, const auto* b) { return PyLess(a->first, b->first); });
        }
        out_ += '{';
        bool first = true;
        for (const auto* kv : entries) {
          if (!first) out_ += o_.item_sep;
          first = false;
          Newline(level + 1);
          Key(kv->first);
          out_ += o_.key_sep;
          Dump(kv->second, level + 1);
        }
        Newline(level);
        out_ += '}';
        return;
      }
      default:
        break;
    }
    RuntimeError("TypeError: Object of type " + std::string(PyTypeName(v)) +
                 " is not JSON serializable");
  }

  std::string Take() { return std::move(out_); }

 private:
  static std::string FloatText(double d) {
    if (std::isnan(d)) return "NaN";
    if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
    return FloatRepr(d);
  }

  void Key(const Value& k) {
    switch (k.kind()) {
      case ValueKind::kString:
        String(k.str());
        return;
      case ValueKind::kBool:
        out_ += k.b() ? "\"true\"" : "\"false\"";
        return;
      case ValueKind::kNone:
        out_ += "\"null\"";
        return;
      case ValueKind::kInt:
        out_ += '"' + std::to_string(k.i()) + '"';
        return;
      case ValueKind::kFloat:
        out_ += '"' + FloatText(k.f()) + '"';
        return;
      default:
        RuntimeError("TypeError: keys must be str, int, float, bool or None, not " +
                     std::string(PyTypeName(k)));
    }
  }

  void Newline(int level) {
    if (!o_.has_indent) return;
    out_ += '\n';
    for (int i = 0; i < level; ++i) out_ += o_.indent;
    if (out_.size() > in_.max_value_bytes()) in_.LimitExceeded("value size");
  }

  void Hex4(unsigned v) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "\\u%04x", v & 0xFFFFu);
    out_ += buf;
  }

  void String(std::string_view s) {
    out_ += '"';
    size_t i = 0;
    while (i < s.size()) {
      unsigned char c = static_cast<unsigned char>(s[i]);
      if (c < 0x80) {
        ++i;
        switch (c) {
          case '"':
            out_ += "\\\"";
            break;
          case '\\':
            out_ += "\\\\";
            break;
          case '\n':
            out_ += "\\n";
            break;
          case '\r':
            out_ += "\\r";
            break;
          case '\t':
            out_ += "\\t";
            break;
          case '\b':
            out_ += "\\b";
            break;
          case '\f':
            out_ += "\\f";
            break;
          default:
            if (c < 0x20) {
              Hex4(c);
            } else {
              out_ += static_cast<char>(c);
            }
        }
        continue;
      }
      size_t start = i;
      char32_t cp = DecodeUtf8(s, &i);
      if (!o_.ensure_ascii) {
        out_.append(s.substr(start, i - start));
      } else if (cp < 0x10000) {
        Hex4(cp);
      } else {
        char32_t v = cp - 0x10000;
        Hex4(0xD800 + (v >> 10));
        Hex4(0xDC00 + (v & 0x3FF));
      }
    }
    out_ += '"';
  }

  Interpreter& in_;
  const JsonDumpOptions& o_;
  std::string out_;
};

}  // namespace

std::string JsonDumps(Interpreter& in, const Value& v, const JsonDumpOptions& opts) {
  Dumper d(in, opts);
  d.Dump(v, 0);
  std::string out = d.Take();
  in.Charge(out.size());
  return out;
}

}  // namespace suanli::jinja
