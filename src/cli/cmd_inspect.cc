// suanli inspect: metadata and tensor table of a GGUF file.
#include <cstdio>

#include "base/progress.h"
#include "cli/common.h"

namespace suanli::cli {
namespace {

int RunInspect(const std::string& path, int max_array) {
  auto f = GgufFile::Open(path);
  if (!f.ok()) return Fail(f.status());
  const GgufFile& g = **f;
  std::printf("file: %s\nGGUF version %u, %s, alignment %zu, %zu metadata keys, %zu tensors\n\n",
              path.c_str(), g.version(), HumanBytes(static_cast<double>(g.file_size())).c_str(),
              g.alignment(), g.metadata().size(), g.tensors().size());
  std::printf("metadata:\n");
  for (const GgufKV& kv : g.metadata())
    std::printf("  %-44.*s %s\n", static_cast<int>(kv.key.size()), kv.key.data(),
                kv.value.ToString(static_cast<size_t>(max_array)).c_str());
  std::printf("\ntensors:\n  %-36s %-6s %-22s %12s %12s\n", "name", "type", "shape", "size",
              "offset");
  uint64_t total = 0;
  for (const GgufTensorInfo& t : g.tensors()) {
    std::string shape = "[";
    for (size_t i = 0; i < t.dims.size(); ++i) shape += (i ? ", " : "") + std::to_string(t.dims[i]);
    shape += "]";
    std::printf("  %-36.*s %-6.*s %-22s %12s %12llu\n", static_cast<int>(t.name.size()),
                t.name.data(), static_cast<int>(TensorTypeName(t.type).size()),
                TensorTypeName(t.type).data(), shape.c_str(),
                HumanBytes(static_cast<double>(t.size_bytes)).c_str(),
                static_cast<unsigned long long>(t.offset));
    total += t.size_bytes;
  }
  std::printf("\n%zu tensors, %s of tensor data\n", g.tensors().size(),
              HumanBytes(static_cast<double>(total)).c_str());
  return 0;
}

}  // namespace

void AddInspectCommand(CLI::App& app, RunFn* run) {
  auto path = std::make_shared<std::string>();
  auto max_array = std::make_shared<int>(8);
  CLI::App* sub = app.add_subcommand("inspect", "Print a GGUF file's metadata and tensor table");
  sub->add_option("file", *path, "GGUF file")->required();
  sub->add_option("--max-array", *max_array, "Array elements to show per key (default 8)")
      ->check(CLI::Range(0, 1 << 20));
  sub->callback([path, max_array, run] {
    *run = [path, max_array] { return RunInspect(*path, *max_array); };
  });
}

}  // namespace suanli::cli
