// The troika command line: subcommands over the library, one exit code per error category.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "troika/catalog.h"
#include "troika/engine.h"
#include "troika/host.h"
#include "troika/status.h"

namespace CLI {
class App;
}

namespace troika::cli {

// Parses argv, runs the chosen subcommand, returns the process exit code
// (0 ok, 1 usage error, then exit_code(Code) for library errors; see docs/errors.md).
int run(int argc, char** argv);

// Prints "troika: error: <code>: <message>" to stderr and returns the exit code for it.
int report(const Status& status);

// Each subcommand file registers itself: it adds a subcommand to `app` and sets `*exit_code`
// when the subcommand runs.
void add_model_commands(CLI::App& app, int* exit_code);     // info, tokenize
void add_generate_commands(CLI::App& app, int* exit_code);  // generate, chat
void add_mkmodel_command(CLI::App& app, int* exit_code);    // mkmodel
void add_score_command(CLI::App& app, int* exit_code);      // score
void add_constrain_commands(CLI::App& app,
                            int* exit_code);  // json, validate, repair, constrain-bench
void add_convert_commands(CLI::App& app, int* exit_code);  // convert, logits
void add_catalog_commands(CLI::App& app, int* exit_code);  // catalog, models
void add_plan_command(CLI::App& app, int* exit_code);      // plan
void add_up_command(CLI::App& app, int* exit_code);        // up

void add_pipeline_commands(CLI::App& app, int* exit_code);  // tools, classify, rerank, vote, graph
void add_serve_commands(CLI::App& app, int* exit_code);     // serve, run
void add_index_commands(CLI::App& app, int* exit_code);     // index add|stats|rm, search, ask

// The host configuration: the troika.toml at `config`, else the catalog's roles bound to the
// models discovered in `dirs` (the default folders when empty).
Result<host::HostConfig> host_config(const std::string& config,
                                     const std::vector<std::string>& dirs,
                                     const catalog::Catalog& catalog);

// The flags that bring the roles up (up, serve, run).
struct HostFlags {
  std::string config, catalog_path;
  std::vector<std::string> dirs;
  int threads = 0;
  bool no_smoke = false, quiet = false;
  void add_to(CLI::App* cmd);
  // The catalog, the config (or discovery), Host::up with progress on stderr unless quiet. With
  // `only`, just those roles (and the roles whose models they share); not_found when none is
  // configured.
  Result<std::unique_ptr<host::Host>> up(const std::vector<std::string>& only = {}) const;
};

// The embedded catalog, or the one at `path` when it is not empty.
Result<catalog::Catalog> load_catalog(const std::string& path);

// Reads a JSON file holding [{"role": ..., "content": ...}, ...].
// Errors: not_found, invalid_argument (naming the message at fault).
Result<std::vector<engine::ChatMessage>> read_messages(const std::string& path);
// At most `n` bytes of `s`, cut at a UTF-8 character boundary ("..." marks the cut).
std::string clip(const std::string& s, size_t n);

// The whole of a file, or not_found.
Result<std::string> read_file(const std::string& path);

}  // namespace troika::cli
