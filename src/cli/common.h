// Shared pieces of the `suanli` subcommands: option groups, model resolution, error output.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/sampler.h"
#include "engine/tokenizer/tokenizer.h"
#include "model/model.h"
#include "runtime/options.h"
#include "suanli/status.h"

namespace suanli::cli {

// Exit codes: 0 ok, 1 a failure (bad file, bad prompt...), 2 bad command-line usage.
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// Prints "suanli: error: <message>" and returns kExitFailure.
int Fail(const Status& s);
int Fail(const std::string& message);

struct ModelOptions {
  std::string model;             // empty: the default model
  int threads = 0;               // 0: all hardware threads
  int64_t ctx_size = 0;          // 0: min(model context, 4096)
  std::string weights = "mmap";  // mmap | copy (see LoadMode)
};
// Parses --weights.
StatusOr<LoadMode> ParseLoadMode(const std::string& s);
// Adds --weights to a command.
void AddWeightsOption(CLI::App* app, std::string* weights);
void AddModelOptions(CLI::App* app, ModelOptions* o, bool with_ctx = true);

// The runtime options these flags give (no pool yet: pool_options.h adds it).
StatusOr<runtime::RuntimeOptions> MakeRuntimeOptions(const ModelOptions& o);

void AddSamplingOptions(CLI::App* app, SamplerParams* p);

// "a,b,,c" → {"a", "b", "", "c"}.
std::vector<std::string> SplitCommas(const std::string& s);
// Parses --split "3,5,8" into layer counts (each 0..2^20).
StatusOr<std::vector<int64_t>> ParseLayerCounts(const std::string& s);

// Parses "1,2,3" into ids.
StatusOr<std::vector<int32_t>> ParseIdList(const std::string& s);

// Each subcommand registers itself and sets *run to its body.
using RunFn = std::function<int()>;
void AddGenerateCommand(CLI::App& app, RunFn* run);
void AddEvalCommand(CLI::App& app, RunFn* run);
void AddTokenizeCommand(CLI::App& app, RunFn* run);
void AddInspectCommand(CLI::App& app, RunFn* run);
void AddBenchCommand(CLI::App& app, RunFn* run);
void AddModelCommand(CLI::App& app, RunFn* run);
void AddProfileCommand(CLI::App& app, RunFn* run);
void AddPlanCommand(CLI::App& app, RunFn* run);
void AddWorkerCommand(CLI::App& app, RunFn* run);
void AddServeCommand(CLI::App& app, RunFn* run);
void AddPoolCommand(CLI::App& app, RunFn* run);

}  // namespace suanli::cli
