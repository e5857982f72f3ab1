#include "cli/cli.h"

#include <CLI/CLI.hpp>
#include <cstdio>

namespace troika::cli {

int report(const Status& status) {
  std::fprintf(stderr, "troika: error: %s\n", status.to_string().c_str());
  return exit_code(status.code());
}

std::string clip(const std::string& s, size_t n) {
  if (s.size() <= n) return s;
  size_t end = n > 3 ? n - 3 : 0;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end) + "...";
}

int run(int argc, char** argv) {
  CLI::App app{
      "Troika: role-based pipelines over local open LLMs (llama.cpp inside).\n"
      "Run `troika COMMAND --help` for a command's options."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "troika 0.1.0");
  int exit_code = 0;
  add_model_commands(app, &exit_code);
  add_generate_commands(app, &exit_code);
  add_score_command(app, &exit_code);
  add_mkmodel_command(app, &exit_code);
  add_constrain_commands(app, &exit_code);
  add_convert_commands(app, &exit_code);
  add_catalog_commands(app, &exit_code);
  add_plan_command(app, &exit_code);
  add_up_command(app, &exit_code);
  add_pipeline_commands(app, &exit_code);
  add_serve_commands(app, &exit_code);
  add_index_commands(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 1;  // usage errors all exit 1
  }
  return exit_code;
}

}  // namespace troika::cli
