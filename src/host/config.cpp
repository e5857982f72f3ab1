// troika.toml: roles bound to models or remote endpoints (docs/host.md).
#include <toml++/toml.h>
#include <fstream>
#include <set>
#include <sstream>

#include "troika/host.h"
#include "troika/units.h"

namespace troika::host {

namespace {

std::string line_of(const toml::node& n) {
  return " (line " + std::to_string(n.source().begin.line) + ")";
}

Status read_role(const std::string& name, const toml::table& t, std::string_view origin,
                 RoleConfig& rc) {
  const std::string where = std::string(origin) + ": roles." + name;
  static const std::set<std::string> known = {"model",       "type",       "share",  "ctx",
                                              "parallel",    "gpu_layers", "remote", "remote_model",
                                              "api_key_env", "timeout_s"};
  for (auto&& [key, node] : t) {
    if (!known.count(std::string(key.str()))) {
      return invalid_argument(where + ": unknown key '" + std::string(key.str()) + "'" +
                              line_of(node) +
                              "; a role takes model, type, share, ctx, parallel, gpu_layers, "
                              "remote, remote_model, api_key_env, timeout_s");
    }
  }
  rc.role = name;
  auto str = [&](const char* key, std::string& out) -> Status {
    if (const toml::node* n = t.get(key)) {
      auto v = n->value<std::string>();
      if (!v) return invalid_argument(where + "." + key + " must be a string" + line_of(*n));
      out = *v;
    }
    return Status::Ok();
  };
  auto num = [&](const char* key, int32_t& out, int64_t min) -> Status {
    if (const toml::node* n = t.get(key)) {
      auto v = n->value<int64_t>();
      if (!v || *v < min || *v > (1 << 24)) {
        return invalid_argument(where + "." + key +
                                " must be an integer >= " + std::to_string(min) + line_of(*n));
      }
      out = static_cast<int32_t>(*v);
    }
    return Status::Ok();
  };
  TROIKA_RETURN_IF_ERROR(str("model", rc.model));
  TROIKA_RETURN_IF_ERROR(str("type", rc.type));
  TROIKA_RETURN_IF_ERROR(str("share", rc.share));
  TROIKA_RETURN_IF_ERROR(str("remote", rc.remote));
  TROIKA_RETURN_IF_ERROR(str("remote_model", rc.remote_model));
  TROIKA_RETURN_IF_ERROR(str("api_key_env", rc.api_key_env));
  TROIKA_RETURN_IF_ERROR(num("ctx", rc.ctx, 1));
  TROIKA_RETURN_IF_ERROR(num("parallel", rc.parallel, 1));
  TROIKA_RETURN_IF_ERROR(num("gpu_layers", rc.gpu_layers, -1));
  if (const toml::node* n = t.get("timeout_s")) {
    auto v = n->value<double>();
    if (!v || *v <= 0)
      return invalid_argument(where + ".timeout_s must be a positive number" + line_of(*n));
    rc.timeout_s = *v;
  }
  const int sources = !rc.model.empty() + !rc.remote.empty() + !rc.share.empty();
  if (sources == 0) {
    return invalid_argument(where + " needs one of model = \"FILE.gguf or catalog id\", " +
                            "remote = \"http://host:port/v1\" or share = \"ROLE\"" + line_of(t));
  }
  if (sources > 1) {
    return invalid_argument(where + " gives more than one of model, remote and share; a role " +
                            "runs one way" + line_of(t));
  }
  if (!rc.remote.empty() && rc.remote_model.empty()) {
    return invalid_argument(where + ": remote needs remote_model (the model name the endpoint " +
                            "serves)" + line_of(t));
  }
  return Status::Ok();
}

// Keys outside [roles]: budgets and where to look for models.
Status read_top(const std::string& k, const toml::node& node, std::string_view origin,
                HostConfig& c) {
  const std::string where(origin);
  if (k == "vram" || k == "ram") {
    auto s = node.value<std::string>();
    Result<uint64_t> b = s ? parse_bytes(*s) : Result<uint64_t>(invalid_argument("not a string"));
    if (!b.ok())
      return invalid_argument(where + ": " + k + " must be a size such as \"20GiB\"" +
                              line_of(node));
    (k == "vram" ? c.vram_bytes : c.ram_bytes) = *b;
  } else if (k == "kv_type") {
    auto s = node.value<std::string>();
    if (!s || (*s != "f16" && *s != "q8_0" && *s != "f32"))
      return invalid_argument(where + ": kv_type must be \"f16\", \"q8_0\" or \"f32\"" +
                              line_of(node));
    c.kv_type = *s;
  } else if (k == "gpu") {
    auto b = node.value<bool>();
    if (!b) return invalid_argument(where + ": gpu must be true or false" + line_of(node));
    c.gpu = *b;
  } else if (k == "model_dirs") {
    const toml::array* a = node.as_array();
    if (!a)
      return invalid_argument(where + ": model_dirs must be an array of folders" + line_of(node));
    for (const toml::node& e : *a) {
      auto s = e.value<std::string>();
      if (!s)
        return invalid_argument(where + ": model_dirs must be an array of folders" + line_of(e));
      c.model_dirs.push_back(*s);
    }
  } else {
    return invalid_argument(
        where + ": unknown key '" + k + "'" + line_of(node) +
        "; the file takes vram, ram, kv_type, gpu, model_dirs and [roles.NAME]");
  }
  return Status::Ok();
}

// A share names a configured role that owns its model.
Status check_shares(const HostConfig& c, std::string_view origin) {
  const std::string where(origin);
  for (const RoleConfig& r : c.roles) {
    if (r.role == kEmbedRole && r.share.empty() && (!r.remote.empty() || r.model.empty())) {
      return invalid_argument(where + ": roles.embed names the knowledge base's embedding model: " +
                              "give model = \"PATH.gguf\" (a local file)");
    }
    if (r.share.empty()) continue;
    if (r.share == r.role) return invalid_argument(where + ": roles." + r.role + " shares itself");
    const RoleConfig* owner = nullptr;
    for (const RoleConfig& o : c.roles)
      if (o.role == r.share) owner = &o;
    if (!owner) {
      return invalid_argument(where + ": roles." + r.role + ".share names '" + r.share +
                              "', which is not configured");
    }
    if (!owner->share.empty()) {
      return invalid_argument(where + ": roles." + r.role + " shares '" + r.share +
                              "', which shares too; name the role that owns the model");
    }
    if (r.role == kEmbedRole || owner->role == kEmbedRole) {
      return invalid_argument(where + ": roles." + r.role +
                              ": the embed role's model is the knowledge base's alone; give each "
                              "its own model");
    }
    if (!owner->remote.empty()) {
      return invalid_argument(where + ": roles." + r.role + " shares '" + r.share +
                              "', which is remote; give it its own model or remote");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<HostConfig> parse_config(std::string_view text, std::string_view origin) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    return invalid_argument(std::string(origin) + ":" + std::to_string(e.source().begin.line) +
                            ": not valid TOML: " + std::string(e.description()));
  }
  HostConfig c;
  c.origin = origin;
  for (auto&& [key, node] : root) {
    const std::string k(key.str());
    if (k != "roles") TROIKA_RETURN_IF_ERROR(read_top(k, node, origin, c));
  }
  const toml::table* roles = root["roles"].as_table();
  if (!roles || roles->empty()) {
    return invalid_argument(std::string(origin) + ": no [roles.NAME] tables; name at least one " +
                            "of brain, rag, fast, tool, graph");
  }
  for (auto&& [key, node] : *roles) {
    const std::string name(key.str());
    if (!catalog::is_role(name) && name != kEmbedRole) {
      return invalid_argument(std::string(origin) + ": unknown role '" + name + "'" +
                              line_of(node) + "; roles are brain, rag, fast, tool, graph, embed");
    }
    const toml::table* t = node.as_table();
    if (!t) return invalid_argument(std::string(origin) + ": roles." + name + " must be a table");
    RoleConfig rc;
    TROIKA_RETURN_IF_ERROR(read_role(name, *t, origin, rc));
    c.roles.push_back(std::move(rc));
  }
  TROIKA_RETURN_IF_ERROR(check_shares(c, origin));
  return c;
}

Result<HostConfig> load_config(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    return not_found("config file not found: " + path +
                     " (write one as docs/host.md shows, or run without --config)");
  }
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_config(ss.str(), path);
}

HostConfig default_config(const catalog::Catalog& cat, const std::vector<catalog::Found>& found,
                          std::vector<std::string>* notes) {
  HostConfig c;
  c.origin = "catalog defaults";
  for (const catalog::Role& role : cat.roles()) {
    // A role that shares by default shares when its owner is up.
    if (!role.shares.empty()) {
      bool owner_up = false;
      for (const RoleConfig& rc : c.roles) owner_up |= rc.role == role.shares && rc.share.empty();
      if (owner_up) {
        RoleConfig rc;
        rc.role = role.name;
        rc.share = role.shares;
        c.roles.push_back(rc);
        continue;
      }
    }
    // The best GGUF on disk of the role's backbone, then of its alternatives.
    const catalog::Found* pick = nullptr;
    std::vector<std::string> families = {role.family};
    families.insert(families.end(), role.alternatives.begin(), role.alternatives.end());
    for (const std::string& fam : families) {
      for (const catalog::Found& f : found) {
        if (f.family != fam || f.layout != "gguf" || f.needs_convert) continue;
        // Prefer the role's own type; else the first found.
        if (!pick || (f.quant == role.gguf_type && pick->quant != role.gguf_type)) pick = &f;
      }
      if (pick) break;
    }
    if (!pick) {
      std::string hint;
      for (const catalog::Found& f : found)
        if (f.family == role.family && f.needs_convert)
          hint = "; convert the checkpoint found: " + f.convert_command;
      if (notes) {
        notes->push_back("role " + role.name + ": no GGUF of " + role.family + " found" +
                         (hint.empty() ? " (put one under ./models or pass --config)" : hint));
      }
      continue;
    }
    RoleConfig rc;
    rc.role = role.name;
    rc.model = pick->path;
    c.roles.push_back(rc);
  }
  return c;
}

}  // namespace troika::host
