#include "convert/tokenizer.h"

#include <sentencepiece_processor.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "convert/proto_wire.h"
#include "gguf.h"

namespace troika::convert {

namespace fs = std::filesystem;

namespace {

// Split regexes of the byte-level BPE pre-tokenizers llama.cpp implements, by the name its
// GGUF loader knows them under. Matching the regex itself (not sample outputs) tells us the
// tokenizer splits text exactly as llama.cpp's pre-tokenizer of that name does.
struct KnownPre {
  const char* name;
  const char* regex;
};
constexpr KnownPre kKnownPre[] = {
    {"llama-bpe",
     R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
    {"qwen2",
     R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
    {"gpt-2", R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)"},
};

std::string token_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return {};
}

// The byte-level BPE pre-tokenizer named by tokenizer.json's pre_tokenizer section.
Result<std::string> identify_pre(const nlohmann::json& tj, const std::string& file) {
  const nlohmann::json pt = tj.value("pre_tokenizer", nlohmann::json());
  std::string regex;
  bool byte_level = false;
  auto visit = [&](const nlohmann::json& p) {
    const std::string type = p.value("type", "");
    if (type == "Split" && p.contains("pattern") && p["pattern"].contains("Regex")) {
      regex = p["pattern"]["Regex"].get<std::string>();
    } else if (type == "ByteLevel") {
      byte_level = true;
      if (p.value("use_regex", true) && regex.empty()) regex = kKnownPre[2].regex;
    }
  };
  if (pt.value("type", "") == "Sequence") {
    const nlohmann::json list = pt.value("pretokenizers", nlohmann::json::array());
    for (const auto& p : list) visit(p);
  } else if (pt.is_object()) {
    visit(pt);
  }
  if (!byte_level) {
    return unimplemented(file + ": pre_tokenizer is not byte-level BPE (" + pt.dump().substr(0, 200) +
                         "); for SentencePiece models put tokenizer.model in the folder");
  }
  for (const auto& k : kKnownPre) {
    if (regex == k.regex) return std::string(k.name);
  }
  return unimplemented(file + ": pre-tokenizer split regex " + nlohmann::json(regex).dump() +
                       " matches none llama.cpp implements (Llama 3, Qwen 2, GPT-2)");
}

Status read_bpe(const std::string& path, Vocab* v) {
  TROIKA_ASSIGN_OR_RETURN(nlohmann::json tj, read_json_file(path));
  const nlohmann::json m = tj.value("model", nlohmann::json());
  if (m.value("type", "") != "BPE" || !m.contains("vocab") || !m["vocab"].is_object()) {
    return unimplemented(path + ": model type '" + m.value("type", std::string("?")) + "' (supported: BPE)");
  }
  if (!tj.value("normalizer", nlohmann::json()).is_null()) {
    return unimplemented(path + ": a byte-level BPE with a normalizer (" + tj["normalizer"].dump().substr(0, 120) + ")");
  }
  TROIKA_ASSIGN_OR_RETURN(v->pre, identify_pre(tj, path));
  v->model = "gpt2";
  std::map<int64_t, std::pair<std::string, int32_t>> by_id;
  for (const auto& [tok, id] : m["vocab"].items()) by_id[id.get<int64_t>()] = {tok, kTokNormal};
  const nlohmann::json added = tj.value("added_tokens", nlohmann::json::array());
  for (const auto& a : added) {
    by_id[a.value("id", int64_t{-1})] = {a.value("content", std::string()), a.value("special", false) ? kTokControl : kTokUserDefined};
  }
  if (by_id.empty() || by_id.begin()->first != 0 || by_id.rbegin()->first != static_cast<int64_t>(by_id.size()) - 1) {
    return data_loss(path + ": token ids are not 0.." + std::to_string(by_id.size() - 1) + " without gaps");
  }
  for (const auto& [id, tt] : by_id) {
    v->tokens.push_back(tt.first);
    v->types.push_back(tt.second);
  }
  const nlohmann::json merges = m.value("merges", nlohmann::json::array());
  for (const auto& mg : merges) {
    if (mg.is_string()) {
      v->merges.push_back(mg.get<std::string>());
    } else if (mg.is_array() && mg.size() == 2) {
      v->merges.push_back(mg[0].get<std::string>() + " " + mg[1].get<std::string>());
    } else {
      return data_loss(path + ": a merge is neither \"a b\" nor [\"a\", \"b\"]");
    }
  }
  // A post-processor that opens every sequence with a special token means the tokenizer adds BOS.
  const nlohmann::json pp = tj.value("post_processor", nlohmann::json());
  if (pp.is_object() && pp.value("type", "") == "TemplateProcessing" && pp.contains("single") &&
      !pp["single"].empty() && pp["single"][0].contains("SpecialToken")) {
    v->add_bos = 1;
  }
  v->source = "tokenizer.json (byte-level BPE, pre-tokenizer " + v->pre + ")";
  return {};
}

// Piece types the Debian SentencePiece headers do not expose, and the normalizer's flags, read
// from the model proto: ModelProto{1: pieces{1: piece, 3: type}, 3: normalizer_spec{3:
// add_dummy_prefix, 4: remove_extra_whitespaces}}.
Status read_spm_proto(const std::string& bytes, const std::string& path, std::vector<int32_t>* types,
                      bool* add_dummy_prefix, bool* remove_extra_ws) {
  *add_dummy_prefix = true;  // proto2 defaults
  *remove_extra_ws = true;
  using proto::WireType;
  proto::WireReader top(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  proto::Field f;
  while (top.next(&f)) {
    if (f.number == 1 && f.type == WireType::kLen) {
      proto::WireReader piece(f);
      proto::Field pf;
      int32_t type = 1;
      while (piece.next(&pf)) {
        if (pf.number == 3 && pf.type == WireType::kVarint) type = static_cast<int32_t>(pf.scalar);
      }
      if (!piece.ok()) return data_loss(path + ": corrupt piece in the model proto");
      types->push_back(type);
    } else if (f.number == 3 && f.type == WireType::kLen) {
      proto::WireReader ns(f);
      proto::Field nf;
      while (ns.next(&nf)) {
        if (nf.number == 3 && nf.type == WireType::kVarint) *add_dummy_prefix = nf.scalar != 0;
        if (nf.number == 4 && nf.type == WireType::kVarint) *remove_extra_ws = nf.scalar != 0;
      }
    }
  }
  if (!top.ok()) return data_loss(path + ": the SentencePiece model proto is corrupt");
  return {};
}

Status read_spm(const std::string& path, Vocab* v) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found(path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  sentencepiece::SentencePieceProcessor sp;
  const auto st = sp.LoadFromSerializedProto(bytes);
  if (!st.ok()) return data_loss(path + ": SentencePiece cannot load it: " + st.ToString());
  std::vector<int32_t> proto_types;
  bool dummy = true, rm_ws = true;
  TROIKA_RETURN_IF_ERROR(read_spm_proto(bytes, path, &proto_types, &dummy, &rm_ws));
  const int n = sp.GetPieceSize();
  if (static_cast<int>(proto_types.size()) != n) {
    return data_loss(path + ": the proto lists " + std::to_string(proto_types.size()) + " pieces, SentencePiece " + std::to_string(n));
  }
  v->model = "llama";
  v->pre = "default";
  for (int i = 0; i < n; ++i) {
    v->tokens.push_back(sp.IdToPiece(i));
    v->scores.push_back(sp.GetScore(i));
    int32_t t = kTokNormal;
    if (sp.IsUnknown(i)) t = kTokUnknown;
    else if (sp.IsControl(i)) t = kTokControl;
    else if (sp.IsUnused(i)) t = kTokUnused;
    else if (sp.IsByte(i)) t = kTokByte;
    else if (proto_types[i] == kTokUserDefined) t = kTokUserDefined;
    v->types.push_back(t);
  }
  v->unk = sp.unk_id();
  if (sp.bos_id() >= 0) v->bos = sp.bos_id();
  if (sp.eos_id() >= 0) v->eos = sp.eos_id();
  if (sp.pad_id() >= 0) v->pad = sp.pad_id();
  v->add_space_prefix = dummy ? 1 : 0;
  v->remove_extra_ws = rm_ws ? 1 : 0;
  v->add_bos = 1;  // SentencePiece models of this family add BOS unless tokenizer_config says not
  v->source = fs::path(path).filename().string() + " (SentencePiece" + (dummy ? ", dummy prefix)" : ")");
  return {};
}

// Puts `text` at `id` (added_tokens.json / added_tokens_decoder), growing the list if needed.
void place(Vocab* v, int64_t id, const std::string& text, int32_t type) {
  if (id < 0) return;
  while (static_cast<int64_t>(v->tokens.size()) <= id) {
    v->tokens.push_back("[PAD" + std::to_string(v->tokens.size()) + "]");
    v->types.push_back(kTokUnused);
    if (!v->scores.empty()) v->scores.push_back(-1000.0f);
  }
  v->tokens[id] = text;
  v->types[id] = type;
  if (!v->scores.empty()) v->scores[id] = -1000.0f;
}

int32_t find_token(const Vocab& v, const std::string& text) {
  if (text.empty()) return -1;
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    if (v.tokens[i] == text) return static_cast<int32_t>(i);
  }
  return -1;
}

int32_t first_id(const nlohmann::json& j) {
  if (j.is_number_integer()) return j.get<int32_t>();
  if (j.is_array() && !j.empty() && j[0].is_number_integer()) return j[0].get<int32_t>();
  return -1;
}

}  // namespace

Result<Vocab> read_vocab(const Checkpoint& ck, int64_t n_vocab) {
  Vocab v;
  const std::string d = ck.dir;
  std::string spm;
  for (const char* name : {"tokenizer.model", "tokenizer.model.v3"}) {
    if (fs::exists(d + "/" + name)) {
      spm = d + "/" + name;
      break;
    }
  }
  if (!spm.empty()) {
    TROIKA_RETURN_IF_ERROR(read_spm(spm, &v));
  } else if (fs::exists(d + "/tokenizer.json")) {
    TROIKA_RETURN_IF_ERROR(read_bpe(d + "/tokenizer.json", &v));
  } else {
    return not_found(d + ": no tokenizer.model or tokenizer.json; the GGUF would have no vocabulary");
  }

  nlohmann::json tc = nlohmann::json::object();
  if (fs::exists(d + "/tokenizer_config.json")) {
    TROIKA_ASSIGN_OR_RETURN(tc, read_json_file(d + "/tokenizer_config.json"));
  }
  if (v.model == "llama") {  // SentencePiece: added tokens live outside the model proto
    if (fs::exists(d + "/added_tokens.json")) {
      TROIKA_ASSIGN_OR_RETURN(nlohmann::json at, read_json_file(d + "/added_tokens.json"));
      for (const auto& [text, id] : at.items()) {
        if (id.is_number_integer() && id.get<int64_t>() >= static_cast<int64_t>(v.tokens.size())) {
          place(&v, id.get<int64_t>(), text, kTokUserDefined);
        }
      }
    }
    const nlohmann::json decoder = tc.value("added_tokens_decoder", nlohmann::json::object());
    for (const auto& [id, info] : decoder.items()) {
      const int64_t i = std::stoll(id);
      const std::string text = info.value("content", std::string());
      if (i < static_cast<int64_t>(v.tokens.size()) && v.tokens[i] != text && v.types[i] != kTokUnused) {
        return data_loss(d + "/tokenizer_config.json: added token " + id + " '" + text +
                         "' disagrees with the SentencePiece piece '" + v.tokens[i] + "'");
      }
      place(&v, i, text, info.value("special", false) ? kTokControl : kTokUserDefined);
    }
  }
  if (static_cast<int64_t>(v.tokens.size()) > n_vocab) {
    return data_loss(d + ": the tokenizer has " + std::to_string(v.tokens.size()) +
                     " tokens but the embedding only " + std::to_string(n_vocab) + " rows");
  }
  if (static_cast<int64_t>(v.tokens.size()) < n_vocab) place(&v, n_vocab - 1, "[PAD" + std::to_string(n_vocab - 1) + "]", kTokUnused);

  // Special ids: the tokenizer's own names first, then config/generation_config ids.
  nlohmann::json gen = nlohmann::json::object();
  if (fs::exists(d + "/generation_config.json")) {
    TROIKA_ASSIGN_OR_RETURN(gen, read_json_file(d + "/generation_config.json"));
  }
  auto pick = [&](const char* tc_key, const char* id_key, int32_t fallback) {
    int32_t id = find_token(v, token_text(tc.value(tc_key, nlohmann::json())));
    if (id < 0) id = first_id(gen.value(id_key, nlohmann::json()));
    if (id < 0) id = first_id(ck.config.value(id_key, nlohmann::json()));
    return id >= 0 && id < n_vocab ? id : fallback;
  };
  v.bos = pick("bos_token", "bos_token_id", v.bos);
  v.eos = pick("eos_token", "eos_token_id", v.eos);
  v.pad = pick("pad_token", "pad_token_id", v.pad);
  v.unk = pick("unk_token", "unk_token_id", v.unk);
  for (const char* t : {"<|eot_id|>", "<end_of_turn>", "<|end|>", "<|im_end|>"}) {
    if ((v.eot = find_token(v, t)) >= 0) break;
  }
  v.eom = find_token(v, "<|eom_id|>");
  if (tc.contains("add_bos_token") && tc["add_bos_token"].is_boolean()) v.add_bos = tc["add_bos_token"] ? 1 : 0;
  if (tc.contains("add_eos_token") && tc["add_eos_token"].is_boolean()) v.add_eos = tc["add_eos_token"] ? 1 : 0;

  if (fs::exists(d + "/chat_template.jinja")) {
    std::ifstream in(d + "/chat_template.jinja", std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    v.chat_template = ss.str();
  } else if (tc.contains("chat_template")) {
    const auto& ct = tc["chat_template"];
    if (ct.is_string()) {
      v.chat_template = ct.get<std::string>();
    } else if (ct.is_array()) {  // named templates: keep the default one
      for (const auto& e : ct) {
        if (e.value("name", "") == "default") v.chat_template = e.value("template", "");
      }
    }
  }
  return v;
}

void write_vocab_kv(const Vocab& v, gguf_context* g) {
  gguf_set_val_str(g, "tokenizer.ggml.model", v.model.c_str());
  gguf_set_val_str(g, "tokenizer.ggml.pre", v.pre.c_str());
  std::vector<const char*> toks;
  for (const auto& t : v.tokens) toks.push_back(t.c_str());
  gguf_set_arr_str(g, "tokenizer.ggml.tokens", toks.data(), toks.size());
  gguf_set_arr_data(g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, v.types.data(), v.types.size());
  if (!v.scores.empty()) gguf_set_arr_data(g, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, v.scores.data(), v.scores.size());
  if (!v.merges.empty()) {
    std::vector<const char*> merges;
    for (const auto& m : v.merges) merges.push_back(m.c_str());
    gguf_set_arr_str(g, "tokenizer.ggml.merges", merges.data(), merges.size());
  }
  auto id = [&](const char* key, int32_t value) {
    if (value >= 0) gguf_set_val_u32(g, key, static_cast<uint32_t>(value));
  };
  id("tokenizer.ggml.bos_token_id", v.bos);
  id("tokenizer.ggml.eos_token_id", v.eos);
  id("tokenizer.ggml.eot_token_id", v.eot);
  id("tokenizer.ggml.eom_token_id", v.eom);
  id("tokenizer.ggml.unknown_token_id", v.unk);
  id("tokenizer.ggml.padding_token_id", v.pad);
  auto flag = [&](const char* key, int value) {
    if (value >= 0) gguf_set_val_bool(g, key, value != 0);
  };
  flag("tokenizer.ggml.add_bos_token", v.add_bos);
  flag("tokenizer.ggml.add_eos_token", v.add_eos);
  flag("tokenizer.ggml.add_space_prefix", v.add_space_prefix);
  flag("tokenizer.ggml.remove_extra_whitespaces", v.remove_extra_ws);
  if (!v.chat_template.empty()) gguf_set_val_str(g, "tokenizer.chat_template", v.chat_template.c_str());
}

}  // namespace troika::convert
