// Catalog parsing (toml++) and lookups. The schema is documented in docs/catalog.md.
#include <toml++/toml.h>
#include <algorithm>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "base/ascii.h"
#include "catalog/embedded_catalog.h"
#include "troika/catalog.h"
#include "troika/units.h"

namespace troika::catalog {

namespace {

// Reads typed keys of one TOML table, remembering the first schema violation with its place.
class Reader {
 public:
  Reader(const toml::table& t, std::string where, std::string* error)
      : t_(t), where_(std::move(where)), error_(error) {}

  // The first key of the table that no read asked for: a typo or a key of another schema.
  void finish() {
    for (auto&& [key, node] : t_) {
      if (seen_.count(std::string(key.str()))) continue;
      if (error_->empty()) {
        *error_ = where_ + ": unknown key '" + std::string(key.str()) + "' (line " +
                  std::to_string(node.source().begin.line) + "); docs/catalog.md lists the keys";
      }
      return;
    }
  }

  void str(const char* key, std::string& out, bool required = false) {
    const toml::node* n = get(key);
    if (!n) return missing(key, required);
    if (auto v = n->value<std::string>()) {
      out = *v;
    } else {
      fail(key, *n, "a string");
    }
  }
  template <typename Int>
  void num(const char* key, Int& out, bool required = false) {
    const toml::node* n = get(key);
    if (!n) return missing(key, required);
    auto v = n->value<int64_t>();
    if (!v || *v < 0) return fail(key, *n, "a non-negative integer");
    out = static_cast<Int>(*v);
  }
  void flag(const char* key, bool& out) {
    const toml::node* n = get(key);
    if (!n) return;
    if (auto v = n->value<bool>()) {
      out = *v;
    } else {
      fail(key, *n, "true or false");
    }
  }
  void real(const char* key, float& out) {
    const toml::node* n = get(key);
    if (!n) return;
    if (auto v = n->value<double>()) {
      out = static_cast<float>(*v);
    } else {
      fail(key, *n, "a number");
    }
  }
  void strings(const char* key, std::vector<std::string>& out) {
    const toml::node* n = get(key);
    if (!n) return;
    const toml::array* a = n->as_array();
    if (!a) return fail(key, *n, "an array of strings");
    for (const toml::node& e : *a) {
      auto v = e.value<std::string>();
      if (!v) return fail(key, e, "an array of strings");
      out.push_back(*v);
    }
  }
  void ints(const char* key, std::vector<int32_t>& out) {
    const toml::node* n = get(key);
    if (!n) return;
    const toml::array* a = n->as_array();
    if (!a) return fail(key, *n, "an array of integers");
    for (const toml::node& e : *a) {
      auto v = e.value<int64_t>();
      if (!v) return fail(key, e, "an array of integers");
      out.push_back(static_cast<int32_t>(*v));
    }
  }
  // A size: an integer of bytes or a string such as "20GiB" / "512MiB" / "9.5GB".
  void size(const char* key, uint64_t& out) {
    const toml::node* n = get(key);
    if (!n) return;
    if (auto v = n->value<int64_t>(); v && *v >= 0) {
      out = static_cast<uint64_t>(*v);
      return;
    }
    if (auto s = n->value<std::string>()) {
      auto bytes = parse_bytes(*s);
      if (bytes.ok()) {
        out = *bytes;
        return;
      }
    }
    fail(key, *n, "a size (bytes, or a string such as \"20GiB\")");
  }
  // The node of `key` (nullptr when absent), marked as a known key.
  const toml::node* get(const char* key) {
    seen_.insert(key);
    return t_.get(key);
  }

 private:
  void missing(const char* key, bool required) {
    if (required && error_->empty()) {
      *error_ = where_ + ": missing required key '" + key + "' (line " +
                std::to_string(t_.source().begin.line) + ")";
    }
  }
  void fail(const char* key, const toml::node& n, const char* want) {
    if (error_->empty()) {
      *error_ = where_ + "." + key + " must be " + want + " (line " +
                std::to_string(n.source().begin.line) + ")";
    }
  }
  const toml::table& t_;
  std::string where_;
  std::string* error_;
  std::set<std::string> seen_;
};

void read_family(const std::string& id, const toml::table& t, Family& f, std::string* err) {
  Reader r(t, "families." + id, err);
  f.id = id;
  r.str("name", f.name, true);
  r.str("architecture", f.architecture, true);
  r.str("base", f.base);
  r.num("n_params", f.n_params, true);
  r.num("n_layer", f.n_layer, true);
  r.num("n_embd", f.n_embd, true);
  r.num("n_head", f.n_head, true);
  r.num("n_head_kv", f.n_head_kv, true);
  r.num("head_dim", f.head_dim);
  r.num("n_ff", f.n_ff, true);
  r.num("n_vocab", f.n_vocab, true);
  r.num("n_ctx_train", f.n_ctx_train, true);
  r.num("n_swa", f.n_swa);
  r.num("swa_pattern", f.swa_pattern);
  r.flag("tied_embeddings", f.tied_embeddings);
  r.flag("rope_freqs", f.rope_freqs);
  r.flag("fused_qkv", f.fused_qkv);
  r.str("tokenizer", f.tokenizer);
  r.str("chat_format", f.chat_format);
  r.str("tool_format", f.tool_format);
  r.real("attn_softcap", f.attn_softcap);
  r.real("final_softcap", f.final_softcap);
  r.num("bos", f.bos);
  r.ints("eos", f.eos);
  r.num("eot", f.eot);
  r.str("license", f.license);
  r.flag("verified", f.verified);
  r.str("notes", f.notes);
  r.finish();
  if (f.head_dim == 0 && f.n_head > 0) f.head_dim = f.n_embd / f.n_head;
}

void read_variant(size_t i, const toml::table& t, Variant& v, std::string* err) {
  std::string where = "variants[" + std::to_string(i) + "]";
  if (auto id = t["id"].value<std::string>()) where += " (" + *id + ")";
  Reader r(t, where, err);
  r.str("id", v.id, true);
  r.str("family", v.family, true);
  r.flag("instruct", v.instruct);
  r.str("format", v.format, true);
  r.str("quant", v.quant, true);
  r.num("bytes", v.bytes);
  r.flag("bytes_verified", v.bytes_verified);
  r.str("license", v.license);
  r.flag("gated", v.gated);
  r.flag("convert", v.convert);
  r.str("convert_type", v.convert_type);
  r.strings("roles", v.roles);
  r.str("subdir", v.subdir);
  r.str("default_file", v.default_file);
  r.flag("verified", v.verified);
  r.str("notes", v.notes);
  const toml::node* files_node = r.get("files");
  r.finish();
  const toml::array* files = files_node ? files_node->as_array() : nullptr;
  if (!files) return;
  for (size_t k = 0; k < files->size(); ++k) {
    const toml::table* ft = files->get(k)->as_table();
    if (!ft) {
      if (err->empty()) *err = where + ".files[" + std::to_string(k) + "] must be a table";
      return;
    }
    VariantFile f;
    Reader fr(*ft, where + ".files[" + std::to_string(k) + "]", err);
    fr.str("name", f.name, true);
    fr.str("type", f.type, true);
    fr.num("bytes", f.bytes);
    fr.flag("verified", f.verified);
    fr.str("notes", f.notes);
    fr.finish();
    v.files.push_back(std::move(f));
  }
}

void read_role(const std::string& name, const toml::table& t, Role& role, std::string* err) {
  Reader r(t, "roles." + name, err);
  role.name = name;
  r.str("job", role.job);
  r.str("family", role.family, true);
  r.strings("alternatives", role.alternatives);
  r.str("shares", role.shares);
  r.str("gguf_type", role.gguf_type);
  r.num("ctx", role.ctx);
  r.num("parallel", role.parallel);
  r.str("notes", role.notes);
  r.finish();
}

// Every reference resolves, ids are unique, roles are known: checked once, here.
Status check_references(const Catalog& c, std::string_view origin) {
  auto bad = [&](const std::string& what) {
    return invalid_argument(std::string(origin) + ": " + what);
  };
  for (const Family& f : c.families()) {
    if (!f.base.empty() && !c.family(f.base))
      return bad("families." + f.id + ".base names unknown family '" + f.base + "'");
    if (f.n_head == 0 || f.n_head_kv == 0 || f.n_head % f.n_head_kv != 0)
      return bad("families." + f.id + ": n_head must be a positive multiple of n_head_kv");
  }
  for (size_t i = 0; i < c.variants().size(); ++i) {
    const Variant& v = c.variants()[i];
    if (!c.family(v.family))
      return bad("variant " + v.id + " names unknown family '" + v.family + "'");
    for (size_t k = 0; k < i; ++k)
      if (ascii_iequals(c.variants()[k].id, v.id)) return bad("variant " + v.id + " is listed twice");
    for (const auto& r : v.roles)
      if (!is_role(r)) return bad("variant " + v.id + " names unknown role '" + r + "'");
  }
  for (const Role& r : c.roles()) {
    if (!is_role(r.name))
      return bad("roles." + r.name +
                 " is not a role Troika serves (brain, rag, fast, tool, graph)");
    if (!c.family(r.family))
      return bad("roles." + r.name + ".family names unknown family '" + r.family + "'");
    for (const auto& a : r.alternatives)
      if (!c.family(a))
        return bad("roles." + r.name + ".alternatives names unknown family '" + a + "'");
    if (!r.shares.empty() && (!c.role(r.shares) || r.shares == r.name))
      return bad("roles." + r.name + ".shares must name another role, not '" + r.shares + "'");
    if (r.ctx <= 0 || r.parallel <= 0)
      return bad("roles." + r.name + ": ctx and parallel must be positive");
  }
  return Status::Ok();
}

}  // namespace

size_t role_rank(std::string_view name) {
  for (size_t i = 0; i < std::size(kRoles); ++i)
    if (name == kRoles[i]) return i;
  return std::size(kRoles);
}

bool is_role(std::string_view name) {
  for (const char* r : kRoles)
    if (name == r) return true;
  return false;
}

Result<Catalog> Catalog::parse(std::string_view text, std::string_view origin) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    return invalid_argument(std::string(origin) + ":" + std::to_string(e.source().begin.line) +
                            ": not valid TOML: " + std::string(e.description()));
  }
  const std::string where(origin);
  if (auto schema = root["schema"].value<int64_t>(); !schema || *schema != 1) {
    return invalid_argument(where +
                            ": 'schema = 1' is required (this Troika reads catalog schema 1)");
  }
  Catalog c;
  std::string err;
  for (auto&& [key, node] : root) {
    std::string k(key.str());
    if (k != "schema" && k != "families" && k != "variants" && k != "roles" && k != "defaults") {
      return invalid_argument(where + ": unknown top-level key '" + k + "' (line " +
                              std::to_string(node.source().begin.line) +
                              "); a catalog has schema, defaults, families, variants and roles");
    }
  }
  if (const toml::table* fams = root["families"].as_table()) {
    for (auto&& [key, node] : *fams) {
      const toml::table* t = node.as_table();
      if (!t)
        return invalid_argument(where + ": families." + std::string(key.str()) +
                                " must be a table");
      Family f;
      read_family(std::string(key.str()), *t, f, &err);
      c.families_.push_back(std::move(f));
    }
  }
  if (const toml::array* vars = root["variants"].as_array()) {
    for (size_t i = 0; i < vars->size(); ++i) {
      const toml::table* t = vars->get(i)->as_table();
      if (!t) return invalid_argument(where + ": variants must be [[variants]] tables");
      Variant v;
      read_variant(i, *t, v, &err);
      c.variants_.push_back(std::move(v));
    }
  }
  if (const toml::table* roles = root["roles"].as_table()) {
    for (auto&& [key, node] : *roles) {
      const toml::table* t = node.as_table();
      if (!t)
        return invalid_argument(where + ": roles." + std::string(key.str()) + " must be a table");
      Role r;
      read_role(std::string(key.str()), *t, r, &err);
      c.roles_.push_back(std::move(r));
    }
    // Print and plan in the canonical role order, whatever the file's order.
    std::stable_sort(c.roles_.begin(), c.roles_.end(), [](const Role& a, const Role& b) {
      return role_rank(a.name) < role_rank(b.name);
    });
  }
  if (const toml::table* d = root["defaults"].as_table()) {
    Reader r(*d, "defaults", &err);
    r.size("vram", c.defaults_.vram_bytes);
    r.str("kv_type", c.defaults_.kv_type);
    r.size("headroom", c.defaults_.headroom_bytes);
    r.finish();
  }
  if (!err.empty()) return invalid_argument(where + ": " + err);
  TROIKA_RETURN_IF_ERROR(check_references(c, origin));
  return c;
}

Result<Catalog> Catalog::load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found("catalog file not found: " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return parse(ss.str(), path);
}

Result<Catalog> Catalog::embedded() {
  static std::once_flag once;
  static Result<Catalog>* parsed = nullptr;  // never destroyed: safe to use at exit
  std::call_once(
      once, [] { parsed = new Result<Catalog>(parse(kEmbeddedCatalog, "embedded seed.toml")); });
  if (!parsed->ok())
    return internal_error("the embedded catalog is broken: " + parsed->status().message());
  return *parsed;
}

const Family* Catalog::family(std::string_view id) const {
  for (const Family& f : families_)
    if (ascii_iequals(f.id, id)) return &f;
  return nullptr;
}

const Variant* Catalog::variant(std::string_view id) const {
  for (const Variant& v : variants_)
    if (ascii_iequals(v.id, id)) return &v;
  return nullptr;
}

const Role* Catalog::role(std::string_view name) const {
  for (const Role& r : roles_)
    if (r.name == name) return &r;
  return nullptr;
}

std::vector<const Variant*> Catalog::variants_of(std::string_view family) const {
  std::vector<const Variant*> out;
  for (const Variant& v : variants_)
    if (ascii_iequals(v.family, family)) out.push_back(&v);
  return out;
}

std::string Catalog::to_json() const {
  nlohmann::ordered_json j;
  j["defaults"] = {{"vram_bytes", defaults_.vram_bytes},
                   {"kv_type", defaults_.kv_type},
                   {"headroom_bytes", defaults_.headroom_bytes}};
  for (const Family& f : families_) {
    j["families"].push_back({{"id", f.id},
                             {"name", f.name},
                             {"architecture", f.architecture},
                             {"base", f.base},
                             {"n_params", f.n_params},
                             {"n_layer", f.n_layer},
                             {"n_embd", f.n_embd},
                             {"n_head", f.n_head},
                             {"n_head_kv", f.n_head_kv},
                             {"head_dim", f.head_dim},
                             {"n_ff", f.n_ff},
                             {"n_vocab", f.n_vocab},
                             {"n_ctx_train", f.n_ctx_train},
                             {"n_swa", f.n_swa},
                             {"swa_pattern", f.swa_pattern},
                             {"tied_embeddings", f.tied_embeddings},
                             {"rope_freqs", f.rope_freqs},
                             {"fused_qkv", f.fused_qkv},
                             {"tokenizer", f.tokenizer},
                             {"chat_format", f.chat_format},
                             {"tool_format", f.tool_format},
                             {"bos", f.bos},
                             {"eos", f.eos},
                             {"eot", f.eot},
                             {"attn_softcap", f.attn_softcap},
                             {"final_softcap", f.final_softcap},
                             {"license", f.license},
                             {"verified", f.verified},
                             {"notes", f.notes}});
  }
  for (const Variant& v : variants_) {
    nlohmann::ordered_json files = nlohmann::ordered_json::array();
    for (const VariantFile& f : v.files)
      files.push_back({{"name", f.name},
                       {"type", f.type},
                       {"bytes", f.bytes},
                       {"verified", f.verified},
                       {"notes", f.notes}});
    j["variants"].push_back({{"id", v.id},
                             {"family", v.family},
                             {"instruct", v.instruct},
                             {"format", v.format},
                             {"quant", v.quant},
                             {"bytes", v.bytes},
                             {"bytes_verified", v.bytes_verified},
                             {"license", v.license},
                             {"gated", v.gated},
                             {"convert", v.convert},
                             {"convert_type", v.convert_type},
                             {"roles", v.roles},
                             {"subdir", v.subdir},
                             {"files", files},
                             {"default_file", v.default_file},
                             {"verified", v.verified},
                             {"notes", v.notes}});
  }
  for (const Role& r : roles_) {
    j["roles"].push_back({{"name", r.name},
                          {"job", r.job},
                          {"family", r.family},
                          {"alternatives", r.alternatives},
                          {"shares", r.shares},
                          {"gguf_type", r.gguf_type},
                          {"ctx", r.ctx},
                          {"parallel", r.parallel},
                          {"notes", r.notes}});
  }
  return j.dump(2);
}

}  // namespace troika::catalog
