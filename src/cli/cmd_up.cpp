// troika up
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "cli/cli.h"
#include "troika/host.h"
#include "troika/units.h"

namespace troika::cli {

namespace {

struct UpFlags {
  HostFlags host;
  bool as_json = false;
};

}  // namespace

Result<host::HostConfig> host_config(const std::string& config_path,
                                     const std::vector<std::string>& dirs_in,
                                     const catalog::Catalog& cat) {
  if (!config_path.empty()) return host::load_config(config_path);
  const std::vector<std::string> dirs = dirs_in.empty() ? catalog::default_model_dirs() : dirs_in;
  TROIKA_ASSIGN_OR_RETURN(std::vector<catalog::Found> found, catalog::discover(cat, dirs));
  std::vector<std::string> notes;
  host::HostConfig config = host::default_config(cat, found, &notes);
  for (const auto& n : notes) std::fprintf(stderr, "troika: %s\n", n.c_str());
  if (config.roles.empty()) {
    return not_found(
        "no role has a GGUF model in the folders searched; `troika models` shows "
        "what is there, docs/host.md how to write a troika.toml");
  }
  return config;
}

namespace {

void print_roles(const host::Host& h) {
  const auto& roles = h.roles();
  std::printf("%-6s %-7s %-44s %-8s %7s %4s %10s %8s  %s\n", "role", "where", "model", "type",
              "ctx", "seq", "planned", "ready", "smoke");
  for (const auto& r : roles) {
    std::string model = r.shared_with.empty() ? r.model : "= " + r.shared_with;
    if (model.size() > 44) model = "..." + model.substr(model.size() - 41);
    std::printf("%-6s %-7s %-44s %-8s %7d %4d %10s %7.0fms  %s\n", r.role.c_str(),
                r.remote ? "remote" : "local", model.c_str(), r.gguf_type.c_str(), r.n_ctx, r.n_seq,
                r.planned_bytes ? format_bytes(r.planned_bytes).c_str() : "-", r.load_ms,
                clip(r.smoke, 48).c_str());
  }
  const plan::Plan& p = h.plan();
  if (!p.models.empty() && p.device_bytes > 0) {
    std::printf("planned %s of %s GPU memory (+ %s headroom)\n",
                format_bytes(p.device_bytes).c_str(), format_bytes(p.vram_bytes).c_str(),
                format_bytes(p.headroom_bytes).c_str());
  } else if (!p.models.empty()) {
    std::printf("planned %s of system memory%s (this build runs on the CPU)\n",
                format_bytes(p.host_bytes).c_str(),
                p.ram_bytes ? (" of " + format_bytes(p.ram_bytes) + " available").c_str() : "");
  }
  std::printf("all %zu roles ready\n", roles.size());
}

}  // namespace

void HostFlags::add_to(CLI::App* cmd) {
  cmd->add_option("-c,--config", config,
                  "troika.toml (default: the catalog's roles bound to the GGUF models found)");
  cmd->add_option("--dir", dirs, "models folder to search without a config (repeatable)");
  cmd->add_option("--catalog", catalog_path, "catalog TOML instead of the embedded one");
  cmd->add_option("-t,--threads", threads, "threads per model (0 = all)");
  cmd->add_flag("--no-smoke", no_smoke, "skip the one-line generation per role");
  cmd->add_flag("-q,--quiet", quiet, "no progress lines on stderr");
}

Result<std::unique_ptr<host::Host>> HostFlags::up(const std::vector<std::string>& only) const {
  TROIKA_ASSIGN_OR_RETURN(catalog::Catalog cat, load_catalog(catalog_path));
  TROIKA_ASSIGN_OR_RETURN(host::HostConfig cfg, host_config(config, dirs, cat));
  if (!only.empty()) {
    // The roles asked for, and the roles whose models they share.
    std::set<std::string> keep(only.begin(), only.end());
    for (bool grew = true; grew;) {
      grew = false;
      for (const auto& r : cfg.roles) {
        if (keep.count(r.role) && !r.share.empty() && keep.insert(r.share).second) grew = true;
      }
    }
    std::vector<host::RoleConfig> roles;
    for (const auto& r : cfg.roles) {
      if (keep.count(r.role)) roles.push_back(r);
    }
    if (roles.empty()) {
      std::string names;
      for (const auto& o : only) names += (names.empty() ? "" : " or ") + o;
      return not_found(
          "this needs the " + names + " role, which " +
          (config.empty() ? std::string("no model found binds") : config + " does not configure") +
          " (docs/host.md)");
    }
    cfg.roles = std::move(roles);
  }
  host::UpOptions opt;
  opt.smoke = !no_smoke;
  opt.n_threads = threads;
  if (!quiet) {
    opt.on_progress = [](const std::string& s) { std::fprintf(stderr, "troika: %s\n", s.c_str()); };
  }
  return host::Host::up(cfg, cat, opt);
}

void add_up_command(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "up",
      "Bring every role up and check it: the config against the memory plan (before loading), "
      "each model loaded once, remote roles reached, one short generation per role");
  auto f = std::make_shared<UpFlags>();
  f->host.add_to(cmd);
  cmd->add_flag("--json", f->as_json, "print the role table as JSON");
  cmd->callback([=] {
    auto h = f->host.up();
    if (!h.ok()) {
      *exit_code = report(h.status());
      return;
    }
    if (!f->as_json) {
      print_roles(**h);
      return;
    }
    nlohmann::ordered_json j = nlohmann::ordered_json::array();
    for (const auto& r : (*h)->roles()) {
      j.push_back({{"role", r.role},
                   {"remote", r.remote},
                   {"model", r.model},
                   {"shared_with", r.shared_with},
                   {"family", r.family},
                   {"gguf_type", r.gguf_type},
                   {"n_ctx", r.n_ctx},
                   {"n_seq", r.n_seq},
                   {"planned_bytes", r.planned_bytes},
                   {"load_ms", r.load_ms},
                   {"smoke", r.smoke},
                   {"smoke_ms", r.smoke_ms}});
    }
    std::printf("%s\n", j.dump(2).c_str());
  });
}

}  // namespace troika::cli
