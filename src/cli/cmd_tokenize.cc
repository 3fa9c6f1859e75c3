// suanli tokenize: print the token ids of a text, space-separated on one line.
#include <cstdio>

#include "base/mapped_file.h"
#include "cli/common.h"
#include "model/default_model.h"

namespace suanli::cli {
namespace {

struct TokenizeArgs {
  std::string model;
  std::string text;
  std::string file;
  bool no_bos = false;
  bool parse_special = false;
};

int RunTokenize(const TokenizeArgs& a) {
  std::string text = a.text;
  if (!a.file.empty()) {
    auto t = ReadFileToString(a.file);  // byte for byte: no newline stripped
    if (!t.ok()) return Fail(t.status());
    text = *t;
  }
  std::string path = a.model;
  if (path.empty()) {
    auto p = EnsureDefaultModel();
    if (!p.ok()) return Fail(p.status());
    path = *p;
  }
  // Only the metadata is needed: vocabulary-only files work too.
  auto file = GgufFile::Open(path);
  if (!file.ok()) return Fail(file.status());
  auto tok = Tokenizer::FromGguf(**file);
  if (!tok.ok()) return Fail(tok.status().WithContext(path));
  std::vector<int32_t> ids = (*tok)->Encode(text, !a.no_bos, a.parse_special);
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) line += ' ';
    line += std::to_string(ids[i]);
  }
  std::puts(line.c_str());
  return 0;
}

}  // namespace

void AddTokenizeCommand(CLI::App& app, RunFn* run) {
  auto a = std::make_shared<TokenizeArgs>();
  CLI::App* sub = app.add_subcommand("tokenize", "Print the token ids of a text");
  sub->add_option("-m,--model", a->model,
                  "GGUF model or vocabulary file (default: the default model)");
  auto* p = sub->add_option("-p,--prompt", a->text, "Text to tokenize");
  auto* f = sub->add_option("-f,--file", a->file, "Read the text from a file, byte for byte");
  p->excludes(f);
  sub->add_flag("--no-bos", a->no_bos, "Do not add the BOS (or EOS) token the vocabulary asks for");
  sub->add_flag("--parse-special", a->parse_special,
                "Turn special-token text such as </s> into its token (default: plain text)");
  sub->callback([a, run, p, f] {
    if (p->count() == 0 && f->count() == 0) throw CLI::RequiredError("-p or -f");
    *run = [a] { return RunTokenize(*a); };
  });
}

}  // namespace suanli::cli
