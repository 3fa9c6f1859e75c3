// suanli: pool everyday devices into one AI computer. This is the command-line entry point;
// each subcommand lives in its own cmd_*.cc file.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/common.h"

int main(int argc, char** argv) {
  using namespace suanli::cli;
  CLI::App app{
      "suanli: pool everyday devices into one AI computer (run GGUF language models on one device "
      "or many)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("suanli 0.1.0"));
  RunFn run;
  AddGenerateCommand(app, &run);
  AddEvalCommand(app, &run);
  AddTokenizeCommand(app, &run);
  AddInspectCommand(app, &run);
  AddBenchCommand(app, &run);
  AddModelCommand(app, &run);
  AddProfileCommand(app, &run);
  AddPlanCommand(app, &run);
  AddWorkerCommand(app, &run);
  AddServeCommand(app, &run);
  AddPoolCommand(app, &run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::fputs(app.help("", CLI::AppFormatMode::All).c_str(), stdout);
    return 0;
  } catch (const CLI::CallForVersion& e) {
    std::puts(e.what());
    return 0;
  } catch (const CLI::ParseError& e) {
    // Show the usage of the subcommand that failed, then exit 2.
    const CLI::App* failed = &app;
    for (const CLI::App* sub : app.get_subcommands()) failed = sub;
    std::fprintf(stderr, "suanli: error: %s\n\n%s", e.what(), failed->help().c_str());
    return kExitUsage;
  }
  if (!run) return Fail("no command given (see suanli --help)");
  return run();
}
