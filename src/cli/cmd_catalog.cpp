// troika catalog, troika models
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "troika/catalog.h"
#include "troika/units.h"

namespace troika::cli {

Result<catalog::Catalog> load_catalog(const std::string& path) {
  if (path.empty()) return catalog::Catalog::embedded();
  return catalog::Catalog::load(path);
}

namespace {

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out.empty() ? "-" : out;
}

void print_catalog(const catalog::Catalog& c) {
  std::printf("roles\n");
  std::printf("  %-6s %-20s %-22s %-8s %7s %4s  %s\n", "role", "backbone", "alternatives", "type",
              "ctx", "par", "job");
  for (const auto& r : c.roles()) {
    std::string backbone = r.shares.empty() ? r.family : "=" + r.shares + " (" + r.family + ")";
    std::printf("  %-6s %-20s %-22s %-8s %7d %4d  %s\n", r.name.c_str(), backbone.c_str(),
                joined(r.alternatives).c_str(), r.gguf_type.c_str(), r.ctx, r.parallel,
                r.job.c_str());
  }
  std::printf("\nfamilies\n");
  std::printf("  %-20s %-7s %6s %6s %5s %5s %5s %7s %7s  %s\n", "id", "arch", "params", "layers",
              "embd", "heads", "kv", "vocab", "ctx", "licence");
  for (const auto& f : c.families()) {
    std::printf("  %-20s %-7s %5.2fB %6d %5d %5d %5d %7d %7d  %s\n", f.id.c_str(),
                f.architecture.c_str(), f.n_params / 1e9, f.n_layer, f.n_embd, f.n_head,
                f.n_head_kv, f.n_vocab, f.n_ctx_train, f.license.c_str());
  }
  std::printf("\nvariants\n");
  std::printf("  %-46s %-18s %-13s %-10s %10s %-5s %-7s %s\n", "repository", "family", "format",
              "quant", "size", "gated", "convert", "roles");
  for (const auto& v : c.variants()) {
    std::string size = v.bytes ? format_bytes(v.bytes) : "?";
    if (v.bytes && !v.bytes_verified) size = "~" + size;
    std::printf("  %-46s %-18s %-13s %-10s %10s %-5s %-7s %s\n", v.id.c_str(), v.family.c_str(),
                v.format.c_str(), v.quant.c_str(), size.c_str(), v.gated ? "yes" : "no",
                v.convert ? v.convert_type.c_str() : "-", joined(v.roles).c_str());
  }
  std::printf(
      "\n~ = size derived from the shapes, not seen on the Hub. `troika catalog --json` has "
      "every fact and note.\n");
}

nlohmann::ordered_json found_json(const catalog::Found& f) {
  return {{"path", f.path},
          {"layout", f.layout},
          {"repo", f.repo},
          {"variant", f.variant},
          {"family", f.family},
          {"match", f.match},
          {"format", f.format},
          {"quant", f.quant},
          {"bytes", f.bytes},
          {"needs_convert", f.needs_convert},
          {"convert_command", f.convert_command},
          {"notes", f.notes}};
}

void print_found(const std::vector<catalog::Found>& all, const std::vector<std::string>& dirs) {
  if (all.empty()) {
    std::printf("no models found in:");
    for (const auto& d : dirs) std::printf(" %s", d.c_str());
    std::printf("\n");
    return;
  }
  for (const auto& f : all) {
    std::printf("%s\n", f.path.c_str());
    const std::string what = !f.variant.empty()  ? f.variant
                             : !f.family.empty() ? f.family
                                                 : "unknown model";
    std::printf("  %-8s %s, %s %s, %s\n", "what", what.c_str(), f.format.c_str(), f.quant.c_str(),
                f.bytes ? format_bytes(f.bytes).c_str() : "?");
    if (!f.match.empty())
      std::printf("  %-8s by %s (%s layout)\n", "matched", f.match.c_str(), f.layout.c_str());
    if (f.needs_convert) {
      std::printf("  %-8s %s\n", "convert", f.convert_command.c_str());
    } else if (f.layout == "gguf") {
      std::printf("  %-8s loads as is\n", "ready");
    }
    for (const auto& n : f.notes) std::printf("  %-8s %s\n", "note", n.c_str());
  }
}

}  // namespace

void add_catalog_commands(CLI::App& app, int* exit_code) {
  {
    auto* cmd = app.add_subcommand("catalog",
                                   "Print the seed map: roles, model families and every published "
                                   "variant with its format, size, licence and gating");
    auto path = std::make_shared<std::string>();
    auto as_json = std::make_shared<bool>(false);
    cmd->add_option("--catalog", *path, "read this catalog TOML instead of the embedded one");
    cmd->add_flag("--json", *as_json, "print the whole catalog as JSON");
    cmd->callback([=] {
      auto c = load_catalog(*path);
      if (!c.ok()) {
        *exit_code = report(c.status());
        return;
      }
      if (*as_json) {
        std::printf("%s\n", c->to_json().c_str());
      } else {
        print_catalog(*c);
      }
    });
  }
  {
    auto* cmd = app.add_subcommand(
        "models",
        "Find model weights on disk (folders, the Hugging Face cache, GGUF files) and say which "
        "catalog variant each is and whether it needs `troika convert`");
    auto dirs = std::make_shared<std::vector<std::string>>();
    auto path = std::make_shared<std::string>();
    auto as_json = std::make_shared<bool>(false);
    cmd->add_option("--dir", *dirs,
                    "folder (or .gguf file) to search; repeatable. Default: ./models, ~/models, "
                    "the Hugging Face cache, $TROIKA_MODELS");
    cmd->add_option("--catalog", *path, "read this catalog TOML instead of the embedded one");
    cmd->add_flag("--json", *as_json, "print a JSON array");
    cmd->callback([=] {
      auto c = load_catalog(*path);
      if (!c.ok()) {
        *exit_code = report(c.status());
        return;
      }
      std::vector<std::string> where = dirs->empty() ? catalog::default_model_dirs() : *dirs;
      auto found = catalog::discover(*c, where);
      if (!found.ok()) {
        *exit_code = report(found.status());
        return;
      }
      if (*as_json) {
        nlohmann::ordered_json j = nlohmann::ordered_json::array();
        for (const auto& f : *found) j.push_back(found_json(f));
        std::printf("%s\n", j.dump(2).c_str());
      } else {
        print_found(*found, where);
      }
    });
  }
}

}  // namespace troika::cli
