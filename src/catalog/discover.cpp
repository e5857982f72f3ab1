// Discovery: which catalog variants are on disk, in which layout, and what they need.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/ascii.h"
#include "troika/catalog.h"

namespace fs = std::filesystem;

namespace troika::catalog {

namespace {

std::string shell_quote(const std::string& s) {
  bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("/._-+:=@", c);
  });
  if (plain) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The name part of a repository id: "nvidia/Llama-3.1-8B-Instruct-FP8" ->
// "llama-3.1-8b-instruct-fp8".
std::string repo_name(const std::string& id) {
  size_t slash = id.rfind('/');
  return ascii_lower(slash == std::string::npos ? id : id.substr(slash + 1));
}

// "models--org--name" -> "org/name".
std::string repo_of_cache_dir(const std::string& name) {
  std::string id = name.substr(8);
  size_t sep = id.find("--");
  if (sep != std::string::npos) id = id.substr(0, sep) + "/" + id.substr(sep + 2);
  return id;
}

// The family whose shape these numbers are; a name hint tells apart fine-tunes of one shape.
const Family* family_by_shape(const Catalog& c, int64_t n_embd, int64_t n_layer, int64_t n_vocab,
                              const std::string& name_hint) {
  std::vector<const Family*> hits;
  for (const Family& f : c.families())
    if (f.n_embd == n_embd && f.n_layer == n_layer && f.n_vocab == n_vocab) hits.push_back(&f);
  if (hits.empty()) return nullptr;
  const std::string hint = ascii_lower(name_hint);
  // A fine-tune whose distinguishing word ("graph") is in the name wins; else the base family.
  for (const Family* f : hits) {
    if (f->base.empty()) continue;
    std::string tail = ascii_lower(f->id.substr(f->id.rfind('-') + 1));
    if (hint.find(tail) != std::string::npos) return f;
  }
  for (const Family* f : hits)
    if (f->base.empty()) return f;
  return hits.front();
}

// Matches a folder name (or one of its parents') to a variant's repository name.
const Variant* variant_by_name(const Catalog& c, const fs::path& p, int levels) {
  fs::path cur = p;
  for (int i = 0; i < levels && !cur.empty(); ++i, cur = cur.parent_path()) {
    std::string n = ascii_lower(cur.filename().string());
    for (const Variant& v : c.variants())
      if (repo_name(v.id) == n) return &v;
  }
  return nullptr;
}

void add_reminders(const Catalog& c, Found& f) {
  const Variant* v = c.variant(f.variant);
  const Family* fam = c.family(f.family);
  std::string license = v && !v->license.empty() ? v->license : fam ? fam->license : "";
  if (!license.empty()) {
    std::string note = "licence: " + license;
    if (v && v->gated)
      note += "; gated on the Hub (check that its terms were accepted for this use)";
    f.notes.push_back(note);
  }
  if (v && !v->notes.empty()) f.notes.push_back(v->notes);
}

uint64_t file_bytes(const fs::path& p) {
  std::error_code ec;
  auto n = fs::file_size(p, ec);
  return ec ? 0 : n;
}

void found_gguf(const Catalog& c, const fs::path& p, std::vector<Found>& out) {
  const std::string fname = p.filename().string();
  if (fname.find("-00001-of-") == std::string::npos && fname.find("-of-0") != std::string::npos) {
    return;  // later shards of a split GGUF belong to the first one
  }
  Found f;
  f.path = p.string();
  f.layout = "gguf";
  f.format = "gguf";
  f.bytes = file_bytes(p);
  auto info = read_gguf(f.path);
  if (!info.ok()) {
    f.notes.push_back(info.status().message());
    out.push_back(std::move(f));
    return;
  }
  f.quant = info->file_type.empty() ? "unknown" : info->file_type;
  // A variant lists the file by name; else the family by shape.
  for (const Variant& v : c.variants()) {
    for (const VariantFile& vf : v.files) {
      if (ascii_lower(vf.name) == ascii_lower(fname)) {
        f.variant = v.id;
        f.family = v.family;
        f.match = "file name";
      }
    }
  }
  if (f.family.empty()) {
    const Family* fam =
        family_by_shape(c, info->n_embd, info->n_layer, info->n_vocab, info->name + " " + fname);
    if (fam) {
      f.family = fam->id;
      f.match = "shape";
      for (const Variant* v : c.variants_of(fam->id))
        if (v->format == "gguf") f.variant = v->id;
    } else {
      f.notes.push_back("a " + info->architecture + " model (" + std::to_string(info->n_layer) +
                        " layers, width " + std::to_string(info->n_embd) +
                        ") that is not a catalog family; it can still be used by path");
    }
  }
  if (!info->has_chat_template) f.notes.push_back("no chat template in the file");
  add_reminders(c, f);
  out.push_back(std::move(f));
}

struct Shape {
  int64_t n_embd = 0, n_layer = 0, n_vocab = 0;
  std::string hint;  // a name that may tell fine-tunes apart
};

// Reads config.json (+ hf_quant_config.json) of a Hugging Face folder: quant and shape.
void read_hf_config(const fs::path& dir, Found& f, Shape& s) {
  std::ifstream in(dir / "config.json");
  nlohmann::json cfg = nlohmann::json::parse(in, nullptr, false);
  if (cfg.is_discarded() || !cfg.is_object()) {
    f.notes.push_back("config.json is not valid JSON");
    return;
  }
  s.n_embd = cfg.value("hidden_size", int64_t{0});
  s.n_layer = cfg.value("num_hidden_layers", int64_t{0});
  s.n_vocab = cfg.value("vocab_size", int64_t{0});
  s.hint = cfg.value("_name_or_path", std::string());
  std::string dtype = cfg.value("torch_dtype", cfg.value("dtype", std::string("bfloat16")));
  f.quant = dtype == "float16" ? "f16" : dtype == "float32" ? "f32" : "bf16";
  std::string method;
  if (cfg.contains("quantization_config") && cfg["quantization_config"].is_object()) {
    const auto& q = cfg["quantization_config"];
    method = q.value("quant_method", std::string());
    if (method.empty()) method = q.value("quant_algo", std::string());
  }
  std::string algo;
  if (fs::exists(dir / "hf_quant_config.json")) {
    std::ifstream hq(dir / "hf_quant_config.json");
    nlohmann::json h = nlohmann::json::parse(hq, nullptr, false);
    if (h.is_object() && h.contains("quantization") && h["quantization"].is_object())
      algo = h["quantization"].value("quant_algo", "");
  }
  const std::string m = ascii_lower(method + " " + algo);
  if (m.find("nvfp4") != std::string::npos) {
    f.quant = "nvfp4";
  } else if (m.find("fp8") != std::string::npos || m.find("modelopt") != std::string::npos ||
             m.find("compressed-tensors") != std::string::npos) {
    f.quant = "fp8";
  } else if (m.find("awq") != std::string::npos) {
    f.quant = "awq-int4";
  } else if (m.find("bitsandbytes") != std::string::npos) {
    f.quant = "bnb-nf4";
  } else if (!method.empty()) {
    f.quant = ascii_lower(method);
  }
}

// `layout` is what the folder holds; a folder inside the Hugging Face cache (repo known) is
// reported as "hf-cache".
void found_folder(const Catalog& c, const fs::path& dir, const std::string& layout,
                  const std::string& repo, std::vector<Found>& out) {
  Found f;
  f.path = dir.string();
  f.layout = repo.empty() ? layout : "hf-cache";
  f.repo = repo;
  f.needs_convert = true;
  Shape shape;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string n = e.path().filename().string();
    if (n.ends_with(".safetensors") || n.ends_with(".ckpt") || n.ends_with(".onnx.data") ||
        n.ends_with(".onnx") || n.ends_with(".bin") || n.ends_with(".pth"))
      f.bytes += file_bytes(e.path());
  }
  if (fs::exists(dir / "config.json", ec)) {
    f.format = "safetensors";
    read_hf_config(dir, f, shape);
    if (fs::exists(dir / "params.json", ec))
      f.notes.push_back("the Mistral native layout is here too; troika convert reads it");
  } else if (layout == "mistral-native") {
    f.format = "safetensors";
    f.quant = "bf16";
    std::ifstream in(dir / "params.json");
    nlohmann::json p = nlohmann::json::parse(in, nullptr, false);
    if (p.is_object()) {
      shape.n_embd = p.value("dim", int64_t{0});
      shape.n_layer = p.value("n_layers", int64_t{0});
      shape.n_vocab = p.value("vocab_size", int64_t{0});
    }
  } else if (layout == "gemma-pytorch") {
    f.format = "gemma-pytorch";
    f.quant = "unknown";
  } else if (layout == "onnx") {
    f.format = "onnx";
    f.quant = "onnx-int4";
  }
  const Variant* v = repo.empty() ? nullptr : c.variant(repo);
  if (v) {
    f.match = "repository";
  } else {
    v = variant_by_name(c, dir, 4);
    if (v) f.match = "folder name";
  }
  if (v) {
    f.variant = v->id;
    f.family = v->family;
    if (f.format.empty()) f.format = v->format;
  } else if (const Family* fam = family_by_shape(c, shape.n_embd, shape.n_layer, shape.n_vocab,
                                                 shape.hint + " " + dir.filename().string())) {
    f.family = fam->id;
    f.match = "shape";
    for (const Variant* cand : c.variants_of(fam->id)) {
      if (cand->format == f.format && cand->quant == f.quant && cand->instruct) {
        f.variant = cand->id;
        break;
      }
    }
    f.notes.push_back(
        "identified by its shape: base and instruct models, and fine-tunes, share "
        "one; name the folder after its repository to match exactly");
  } else {
    f.notes.push_back("not a catalog model (no variant or family matches its name or shape)");
  }
  const std::string type = v && !v->convert_type.empty() ? v->convert_type : "auto";
  std::string stem = ascii_lower(dir.filename().string());
  if (!repo.empty()) {
    stem = repo_name(repo);
  } else if (layout == "onnx") {
    stem = ascii_lower(dir.parent_path().parent_path().filename().string() + "-" + stem);
  }
  f.convert_command = "troika convert " + shell_quote(f.path) + " -o " +
                      shell_quote(stem + "-" + type + ".gguf") + " --type " + type;
  add_reminders(c, f);
  out.push_back(std::move(f));
}

// What kind of model folder `dir` is, or "" when it is none.
std::string folder_layout(const fs::path& dir) {
  std::error_code ec;
  bool config = fs::exists(dir / "config.json", ec);
  bool safetensors = false, onnx = false;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string n = e.path().filename().string();
    if (n.ends_with(".safetensors")) safetensors = true;
    if (n.ends_with(".onnx")) onnx = true;
  }
  if (onnx && fs::exists(dir / "genai_config.json", ec)) return "onnx";
  if (config && safetensors) return "hf-folder";
  if (fs::exists(dir / "params.json", ec) && fs::exists(dir / "consolidated.safetensors", ec))
    return "mistral-native";
  if (fs::exists(dir / "model.ckpt", ec)) return "gemma-pytorch";
  return "";
}

void walk(const Catalog& c, const fs::path& dir, int depth, int max_depth, const std::string& repo,
          std::vector<Found>& out) {
  std::error_code ec;
  const std::string layout = folder_layout(dir);
  // A model folder is reported once; GGUF files beside a checkpoint are still listed below.
  if (!layout.empty()) found_folder(c, dir, layout, repo, out);
  if (depth >= max_depth) return;
  std::vector<fs::path> entries;
  fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  if (ec) {
    Found f;
    f.path = dir.string();
    f.layout = "unreadable";
    f.notes.push_back("cannot read this folder: " + ec.message());
    out.push_back(std::move(f));
    return;
  }
  for (const auto& e : it) entries.push_back(e.path());
  std::sort(entries.begin(), entries.end());
  for (const fs::path& p : entries) {
    const std::string name = p.filename().string();
    if (fs::is_regular_file(p, ec) && ascii_lower(name).ends_with(".gguf")) {
      found_gguf(c, p, out);
      continue;
    }
    if (!fs::is_directory(p, ec) || fs::is_symlink(p, ec) || !layout.empty()) continue;
    if (name.starts_with("models--")) {
      // Hugging Face cache: models--org--name/snapshots/<revision>/ (files are symlinks to blobs).
      std::vector<fs::path> revs;
      for (const auto& s : fs::directory_iterator(p / "snapshots", ec)) revs.push_back(s.path());
      std::sort(revs.begin(), revs.end());
      for (const fs::path& rev : revs)
        walk(c, rev, depth + 1, max_depth, repo_of_cache_dir(name), out);
      continue;
    }
    if (name.empty() || name[0] == '.') continue;
    walk(c, p, depth + 1, max_depth, repo, out);
  }
}

}  // namespace

std::vector<std::string> default_model_dirs() {
  std::vector<std::string> dirs;
  auto add = [&](const fs::path& p) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::string s = p.string();
      if (std::find(dirs.begin(), dirs.end(), s) == dirs.end()) dirs.push_back(s);
    }
  };
  add("models");
  const char* home = std::getenv("HOME");
  if (home) add(fs::path(home) / "models");
  if (const char* hf = std::getenv("HF_HOME")) {
    add(fs::path(hf) / "hub");
  } else if (home) {
    add(fs::path(home) / ".cache" / "huggingface" / "hub");
  }
  if (const char* extra = std::getenv("TROIKA_MODELS")) {
    std::stringstream ss(extra);
    std::string part;
    while (std::getline(ss, part, ':'))
      if (!part.empty()) add(part);
  }
  return dirs;
}

Result<std::vector<Found>> discover(const Catalog& catalog, const std::vector<std::string>& dirs,
                                    int max_depth) {
  std::vector<Found> out;
  for (const std::string& d : dirs) {
    std::error_code ec;
    if (fs::is_regular_file(d, ec) && ascii_lower(d).ends_with(".gguf")) {
      found_gguf(catalog, d, out);
      continue;
    }
    if (!fs::is_directory(d, ec))
      return not_found("models folder not found: " + d + " (pass an existing folder with --dir)");
    fs::path p = fs::path(d).lexically_normal();
    if (p.filename().empty()) p = p.parent_path();
    // A snapshot folder named directly: models--org--name/snapshots/<rev>.
    std::string repo;
    if (p.parent_path().filename() == "snapshots") {
      std::string name = p.parent_path().parent_path().filename().string();
      if (name.starts_with("models--")) repo = repo_of_cache_dir(name);
    }
    walk(catalog, p, 0, max_depth, repo, out);
  }
  return out;
}

}  // namespace troika::catalog
