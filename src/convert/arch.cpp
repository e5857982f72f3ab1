#include "convert/arch.h"

#include <cmath>
#include <set>

#include "gguf.h"

namespace troika::convert {

namespace {


Result<int64_t> need_int(const nlohmann::json& c, const char* key, const std::string& file) {
  auto it = c.find(key);
  if (it == c.end() || !it->is_number_integer() || it->get<int64_t>() <= 0) {
    return data_loss(file + ": \"" + key + "\" is missing or not a positive integer");
  }
  return it->get<int64_t>();
}

Result<Hparams> read_hparams(const Checkpoint& ck) {
  const nlohmann::json& c = ck.config;
  const std::string file = ck.dir + "/config.json";
  Hparams h;
  TROIKA_ASSIGN_OR_RETURN(h.n_embd, need_int(c, "hidden_size", file));
  TROIKA_ASSIGN_OR_RETURN(h.n_ff, need_int(c, "intermediate_size", file));
  TROIKA_ASSIGN_OR_RETURN(h.n_layer, need_int(c, "num_hidden_layers", file));
  TROIKA_ASSIGN_OR_RETURN(h.n_head, need_int(c, "num_attention_heads", file));
  h.n_head_kv = c.value("num_key_value_heads", h.n_head);
  if (c.contains("head_dim") && c["head_dim"].is_number_integer()) {
    h.head_dim = c["head_dim"].get<int64_t>();
  } else {
    h.head_dim = h.n_embd / h.n_head;
  }
  h.n_ctx = c.value("max_position_embeddings", int64_t{4096});
  h.n_vocab = c.value("vocab_size", int64_t{0});
  h.eps = c.value("rms_norm_eps", 1e-5);
  h.tied = c.value("tie_word_embeddings", false);
  if (c.contains("rope_parameters") && c["rope_parameters"].is_object()) {
    const auto& rp = c["rope_parameters"];
    h.rope_theta = rp.value("rope_theta", c.value("rope_theta", 10000.0));
    const std::string type = rp.value("rope_type", rp.value("type", std::string("default")));
    if (type != "default") h.rope_scaling = rp;
  } else {
    h.rope_theta = c.value("rope_theta", 10000.0);
    if (c.contains("rope_scaling") && c["rope_scaling"].is_object()) {
      const auto& rs = c["rope_scaling"];
      const std::string type = rs.value("rope_type", rs.value("type", std::string("default")));
      if (type != "default") h.rope_scaling = rs;
    }
  }
  if (h.n_head_kv <= 0 || h.n_head % h.n_head_kv != 0 || h.head_dim <= 0) {
    return data_loss(file + ": num_attention_heads " + std::to_string(h.n_head) +
                     " is not a multiple of num_key_value_heads " + std::to_string(h.n_head_kv));
  }
  return h;
}

std::string rope_type(const nlohmann::json& rs) {
  return rs.value("rope_type", rs.value("type", std::string("default")));
}

// Llama 3.1's "llama3" scaling, baked into per-dimension divisors as llama.cpp expects.
std::vector<float> llama3_rope_freqs(const Hparams& h) {
  const auto& rs = h.rope_scaling;
  const double factor = rs.value("factor", 8.0);
  const double low = rs.value("low_freq_factor", 1.0);
  const double high = rs.value("high_freq_factor", 4.0);
  const double old_ctx = rs.value("original_max_position_embeddings", 8192.0);
  const double low_wavelen = old_ctx / low, high_wavelen = old_ctx / high;
  std::vector<float> out;
  for (int64_t i = 0; i < h.head_dim; i += 2) {
    const double freq = 1.0 / std::pow(h.rope_theta, static_cast<double>(i) / h.head_dim);
    const double wavelen = 2.0 * M_PI / freq;
    if (wavelen < high_wavelen) {
      out.push_back(1.0f);
    } else if (wavelen > low_wavelen) {
      out.push_back(static_cast<float>(factor));
    } else {
      const double smooth = (old_ctx / wavelen - low) / (high - low);
      out.push_back(static_cast<float>(1.0 / ((1.0 - smooth) / factor + smooth)));
    }
  }
  return out;
}

class Planner {
 public:
  Planner(const Checkpoint& ck, ArchPlan* plan) : ck_(ck), plan_(plan) {}

  // Adds an output tensor made from `hf` names (concatenated along rows).
  Status add(const std::string& gguf, const std::vector<std::string>& hf,
             std::vector<int64_t> expect, Transform tf = Transform::kNone, int n_head = 0,
             bool optional = false) {
    OutTensor t;
    t.name = gguf;
    t.transform = tf;
    t.n_head = n_head;
    int64_t rows = 0;
    for (const std::string& name : hf) {
      const SourceTensor* s = ck_.find(name);
      if (!s) {
        if (optional) return {};
        return data_loss(ck_.dir + ": tensor '" + name + "' (for " + gguf + ") is missing");
      }
      used_.insert(name);
      t.parts.push_back(s);
      if (t.source_format.empty()) t.source_format = s->format;
      rows += s->shape.empty() ? 1 : s->shape[0];
      if (hf.size() > 1 && (s->shape.size() != 2 || s->shape[1] != expect[1])) {
        return data_loss(s->file + ": tensor '" + name + "' has shape " + shape_str(s->shape) +
                         ", expected [*, " + std::to_string(expect[1]) + "]");
      }
    }
    std::vector<int64_t> got = hf.size() > 1 ? std::vector<int64_t>{rows, expect[1]} : t.parts[0]->shape;
    // A 1-D weight may be stored as [n, 1] or [1, n] by some exporters; accept the same count.
    if (expect.size() == 1 && got.size() == 2 && (got[0] == 1 || got[1] == 1)) got = {got[0] * got[1]};
    if (got != expect) {
      return data_loss(t.parts[0]->file + ": tensor '" + hf[0] + "' has shape " + shape_str(got) +
                       ", but config.json implies " + shape_str(expect) + " for " + gguf);
    }
    t.shape = expect;
    t.keep_f32 = expect.size() == 1;
    plan_->tensors.push_back(std::move(t));
    return {};
  }

  void generated(const std::string& gguf, std::vector<float> values) {
    OutTensor t;
    t.name = gguf;
    t.shape = {static_cast<int64_t>(values.size())};
    t.keep_f32 = true;
    t.generated = std::move(values);
    t.source_format = "generated";
    plan_->tensors.push_back(std::move(t));
  }

  void ignore(const std::string& name) { used_.insert(name); }

  // Every tensor of the checkpoint must have found a place.
  Status check_all_used() const {
    for (const SourceTensor& s : ck_.tensors) {
      if (used_.count(s.name)) continue;
      if (s.name.find("rotary_emb.inv_freq") != std::string::npos) continue;  // recomputed
      return data_loss(s.file + ": tensor '" + s.name + "' has no place in " + plan_->hf_arch +
                       " (an unexpected extra tensor; is config.json's architecture right?)");
    }
    return {};
  }

 private:
  const Checkpoint& ck_;
  ArchPlan* plan_;
  std::set<std::string> used_;
};

Status plan_common_head(Planner& p, const Hparams& h, int64_t n_vocab, bool add_one) {
  TROIKA_RETURN_IF_ERROR(p.add("token_embd.weight", {"model.embed_tokens.weight"}, {n_vocab, h.n_embd}));
  TROIKA_RETURN_IF_ERROR(p.add("output_norm.weight", {"model.norm.weight"}, {h.n_embd},
                               add_one ? Transform::kAddOne : Transform::kNone));
  return {};
}

}  // namespace

Result<ArchPlan> plan_architecture(const Checkpoint& ck) {
  ArchPlan plan;
  const nlohmann::json archs = ck.config.value("architectures", nlohmann::json::array());
  plan.hf_arch = archs.is_array() && !archs.empty() && archs[0].is_string() ? archs[0].get<std::string>()
                                                                           : ck.config.value("model_type", std::string());
  TROIKA_ASSIGN_OR_RETURN(plan.hparams, read_hparams(ck));
  const Hparams& h = plan.hparams;
  const SourceTensor* embd = ck.find("model.embed_tokens.weight");
  if (!embd || embd->shape.size() != 2) {
    return data_loss(ck.dir + ": no 2-D 'model.embed_tokens.weight' tensor");
  }
  plan.n_vocab = embd->shape[0];
  Planner p(ck, &plan);
  const std::string L = "model.layers.";
  const int64_t q_rows = h.n_head * h.head_dim, kv_rows = h.n_head_kv * h.head_dim;

  if (plan.hf_arch == "LlamaForCausalLM" || plan.hf_arch == "MistralForCausalLM") {
    plan.gguf_arch = "llama";
    TROIKA_RETURN_IF_ERROR(plan_common_head(p, h, plan.n_vocab, false));
    if (!h.rope_scaling.is_null()) {
      const std::string rt = rope_type(h.rope_scaling);
      if (rt == "llama3") {
        p.generated("rope_freqs.weight", llama3_rope_freqs(h));
      } else if (rt != "linear") {
        return unimplemented(ck.dir + "/config.json: rope scaling '" + rt +
                             "' for " + plan.hf_arch + " (supported: llama3, linear)");
      }
    }
    if (!ck.config.value("sliding_window", nlohmann::json()).is_null()) {
      plan.notes.push_back("config.json sets sliding_window; llama.cpp's llama architecture attends to the full context");
    }
    const Transform rope = ck.qk_interleaved ? Transform::kNone : Transform::kPermuteRope;
    for (int64_t i = 0; i < h.n_layer; ++i) {
      const std::string s = L + std::to_string(i) + ".", b = "blk." + std::to_string(i) + ".";
      TROIKA_RETURN_IF_ERROR(p.add(b + "attn_norm.weight", {s + "input_layernorm.weight"}, {h.n_embd}));
      TROIKA_RETURN_IF_ERROR(p.add(b + "attn_q.weight", {s + "self_attn.q_proj.weight"}, {q_rows, h.n_embd}, rope, static_cast<int>(h.n_head)));
      TROIKA_RETURN_IF_ERROR(p.add(b + "attn_k.weight", {s + "self_attn.k_proj.weight"}, {kv_rows, h.n_embd}, rope, static_cast<int>(h.n_head_kv)));
      TROIKA_RETURN_IF_ERROR(p.add(b + "attn_v.weight", {s + "self_attn.v_proj.weight"}, {kv_rows, h.n_embd}));
      TROIKA_RETURN_IF_ERROR(p.add(b + "attn_output.weight", {s + "self_attn.o_proj.weight"}, {h.n_embd, q_rows}));
      TROIKA_RETURN_IF_ERROR(p.add(b + "ffn_norm.weight", {s + "post_attention_layernorm.weight"}, {h.n_embd}));
      TROIKA_RETURN_IF_ERROR(p.add(b + "ffn_gate.weight", {s + "mlp.gate_proj.weight"}, {h.n_ff, h.n_embd}));
      TROIKA_RETURN_IF_ERROR(p.add(b + "ffn_up.weight", {s + "mlp.up_proj.weight"}, {h.n_ff, h.n_embd}));
      TROIKA_RETURN_IF_ERROR(p.add(b + "ffn_down.weight", {s + "mlp.down_proj.weight"}, {h.n_embd, h.n_ff}));
    }
    if (ck.find("lm_head.weight")) {
      TROIKA_RETURN_IF_ERROR(p.add("output.weight", {"lm_head.weight"}, {plan.n_vocab, h.n_embd}));
    } else if (!h.tied) {
      return data_loss(ck.dir + ": no 'lm_head.weight' and tie_word_embeddings is false");
    }
  } else if (plan.hf_arch == "Gemma2ForCausalLM") {
    plan.gguf_arch = "gemma2";
    if (!h.rope_scaling.is_null()) {
      return unimplemented(ck.dir + "/config.json: rope scaling for Gemma 2 ('" + rope_type(h.rope_scaling) + "')");
    }
    const int64_t qpas = ck.config.value("query_pre_attn_scalar", h.head_dim);
    if (qpas != h.head_dim) {
      return unimplemented(ck.dir + "/config.json: query_pre_attn_scalar " + std::to_string(qpas) +
                           " differs from head_dim " + std::to_string(h.head_dim) +
                           "; llama.cpp's gemma2 scales queries by 1/sqrt(head_dim)");
    }
    if (ck.config.contains("layer_types") && ck.config["layer_types"].is_array()) {
      const auto& lt = ck.config["layer_types"];
      for (size_t i = 0; i < lt.size(); ++i) {
        const bool sliding = lt[i] == "sliding_attention";
        if (sliding != (i % 2 == 0)) {
          return unimplemented(ck.dir + "/config.json: layer_types[" + std::to_string(i) +
                               "] breaks Gemma 2's alternation (even layers sliding), which llama.cpp assumes");
        }
      }
    }
    TROIKA_RETURN_IF_ERROR(plan_common_head(p, h, plan.n_vocab, true));
    p.ignore("lm_head.weight");  // tied; AutoAWQ writes a copy anyway
    for (int64_t i = 0; i < h.n_layer; ++i) {
      const std::string s = L + std::to_string(i) + ".", b = "blk." + std::to_string(i) + ".";
      const Transform one = Transform::kAddOne;
      TROIKA_RETURN_IF_ERROR(p.add(b + "attn_norm.weight", {s + "input_layernorm.weight"}, {h.n_embd}, one));
      TROIKA_RETURN_IF_ERROR(p.add(b + "attn_q.weight", {s + "self_attn.q_proj.weight"}, {q_rows, h.n_embd}));
      TROIKA_RETURN_IF_ERROR(p.add(b + "attn_k.weight", {s + "self_attn.k_proj.weight"}, {kv_rows, h.n_embd}));
      TROIKA_RETURN_IF_ERROR(p.add(b + "attn_v.weight", {s + "self_attn.v_proj.weight"}, {kv_rows, h.n_embd}));
      TROIKA_RETURN_IF_ERROR(p.add(b + "attn_output.weight", {s + "self_attn.o_proj.weight"}, {h.n_embd, q_rows}));
      TROIKA_RETURN_IF_ERROR(p.add(b + "post_attention_norm.weight", {s + "post_attention_layernorm.weight"}, {h.n_embd}, one));
      TROIKA_RETURN_IF_ERROR(p.add(b + "ffn_norm.weight", {s + "pre_feedforward_layernorm.weight"}, {h.n_embd}, one));
      TROIKA_RETURN_IF_ERROR(p.add(b + "post_ffw_norm.weight", {s + "post_feedforward_layernorm.weight"}, {h.n_embd}, one));
      TROIKA_RETURN_IF_ERROR(p.add(b + "ffn_gate.weight", {s + "mlp.gate_proj.weight"}, {h.n_ff, h.n_embd}));
      TROIKA_RETURN_IF_ERROR(p.add(b + "ffn_up.weight", {s + "mlp.up_proj.weight"}, {h.n_ff, h.n_embd}));
      TROIKA_RETURN_IF_ERROR(p.add(b + "ffn_down.weight", {s + "mlp.down_proj.weight"}, {h.n_embd, h.n_ff}));
    }
  } else if (plan.hf_arch == "Phi3ForCausalLM") {
    plan.gguf_arch = "phi3";
    TROIKA_RETURN_IF_ERROR(plan_common_head(p, h, plan.n_vocab, false));
    if (!h.rope_scaling.is_null()) {
      const std::string rt = rope_type(h.rope_scaling);
      if (rt != "longrope" && rt != "su") {
        return unimplemented(ck.dir + "/config.json: rope scaling '" + rt + "' for Phi-3 (supported: longrope)");
      }
      auto factors = [&](const char* key) -> Result<std::vector<float>> {
        auto it = h.rope_scaling.find(key);
        if (it == h.rope_scaling.end() || !it->is_array() ||
            static_cast<int64_t>(it->size()) * 2 != h.head_dim) {
          return data_loss(ck.dir + "/config.json: rope_scaling." + key + " must list head_dim/2 factors");
        }
        return it->get<std::vector<float>>();
      };
      TROIKA_ASSIGN_OR_RETURN(std::vector<float> lf, factors("long_factor"));
      TROIKA_ASSIGN_OR_RETURN(std::vector<float> sf, factors("short_factor"));
      p.generated("rope_factors_long.weight", std::move(lf));
      p.generated("rope_factors_short.weight", std::move(sf));
    }
    for (int64_t i = 0; i < h.n_layer; ++i) {
      const std::string s = L + std::to_string(i) + ".", b = "blk." + std::to_string(i) + ".";
      TROIKA_RETURN_IF_ERROR(p.add(b + "attn_norm.weight", {s + "input_layernorm.weight"}, {h.n_embd}));
      if (ck.find(s + "self_attn.qkv_proj.weight")) {
        TROIKA_RETURN_IF_ERROR(p.add(b + "attn_qkv.weight", {s + "self_attn.qkv_proj.weight"}, {q_rows + 2 * kv_rows, h.n_embd}));
      } else {  // exporters that split the fused projection (e.g. quantizers)
        TROIKA_RETURN_IF_ERROR(p.add(b + "attn_qkv.weight", {s + "self_attn.q_proj.weight", s + "self_attn.k_proj.weight", s + "self_attn.v_proj.weight"}, {q_rows + 2 * kv_rows, h.n_embd}));
      }
      TROIKA_RETURN_IF_ERROR(p.add(b + "attn_output.weight", {s + "self_attn.o_proj.weight"}, {h.n_embd, q_rows}));
      TROIKA_RETURN_IF_ERROR(p.add(b + "ffn_norm.weight", {s + "post_attention_layernorm.weight"}, {h.n_embd}));
      if (ck.find(s + "mlp.gate_up_proj.weight")) {
        TROIKA_RETURN_IF_ERROR(p.add(b + "ffn_up.weight", {s + "mlp.gate_up_proj.weight"}, {2 * h.n_ff, h.n_embd}));
      } else {
        TROIKA_RETURN_IF_ERROR(p.add(b + "ffn_up.weight", {s + "mlp.gate_proj.weight", s + "mlp.up_proj.weight"}, {2 * h.n_ff, h.n_embd}));
      }
      TROIKA_RETURN_IF_ERROR(p.add(b + "ffn_down.weight", {s + "mlp.down_proj.weight"}, {h.n_embd, h.n_ff}));
    }
    TROIKA_RETURN_IF_ERROR(p.add("output.weight", {"lm_head.weight"}, {plan.n_vocab, h.n_embd}));
  } else {
    return unimplemented(ck.dir + "/config.json: architecture '" + plan.hf_arch +
                         "' is not convertible (supported: LlamaForCausalLM, MistralForCausalLM, "
                         "Gemma2ForCausalLM, Phi3ForCausalLM)");
  }
  TROIKA_RETURN_IF_ERROR(p.check_all_used());
  return plan;
}

Status write_arch_kv(const Checkpoint& ck, const ArchPlan& plan, gguf_context* g) {
  const Hparams& h = plan.hparams;
  const std::string a = plan.gguf_arch;
  auto key = [&](const char* k) { return (a + "." + k); };
  auto u32 = [&](const char* k, int64_t v) { gguf_set_val_u32(g, key(k).c_str(), static_cast<uint32_t>(v)); };
  auto f32 = [&](const char* k, double v) { gguf_set_val_f32(g, key(k).c_str(), static_cast<float>(v)); };
  gguf_set_val_str(g, "general.architecture", a.c_str());
  u32("context_length", h.n_ctx);
  u32("embedding_length", h.n_embd);
  u32("feed_forward_length", h.n_ff);
  u32("block_count", h.n_layer);
  u32("attention.head_count", h.n_head);
  u32("attention.head_count_kv", h.n_head_kv);
  f32("attention.layer_norm_rms_epsilon", h.eps);
  f32("rope.freq_base", h.rope_theta);
  if (h.head_dim != h.n_embd / h.n_head || a == "gemma2") {
    u32("attention.key_length", h.head_dim);
    u32("attention.value_length", h.head_dim);
  }
  if (a == "llama") {
    u32("rope.dimension_count", h.head_dim);
    u32("vocab_size", plan.n_vocab);
    if (!h.rope_scaling.is_null() && rope_type(h.rope_scaling) == "linear") {
      gguf_set_val_str(g, key("rope.scaling.type").c_str(), "linear");
      f32("rope.scaling.factor", h.rope_scaling.value("factor", 1.0));
    }
  } else if (a == "gemma2") {
    f32("attn_logit_softcapping", ck.config.value("attn_logit_softcapping", 50.0));
    f32("final_logit_softcapping", ck.config.value("final_logit_softcapping", 30.0));
    u32("attention.sliding_window", ck.config.value("sliding_window", int64_t{4096}));
  } else if (a == "phi3") {
    const double partial = h.rope_scaling.is_null() ? ck.config.value("partial_rotary_factor", 1.0)
                                                    : h.rope_scaling.value("partial_rotary_factor", ck.config.value("partial_rotary_factor", 1.0));
    const double prf = ck.config.contains("rope_parameters") ? ck.config["rope_parameters"].value("partial_rotary_factor", partial) : partial;
    u32("rope.dimension_count", static_cast<int64_t>(prf * static_cast<double>(h.head_dim)));
    u32("rope.scaling.original_context_length", ck.config.value("original_max_position_embeddings", h.n_ctx));
    const auto sw = ck.config.value("sliding_window", nlohmann::json());
    if (sw.is_number_integer()) u32("attention.sliding_window", sw.get<int64_t>());
    if (!h.rope_scaling.is_null()) {
      const double scale = static_cast<double>(h.n_ctx) / ck.config.value("original_max_position_embeddings", h.n_ctx);
      f32("rope.scaling.attn_factor", scale <= 1.0 ? 1.0 : std::sqrt(1.0 + std::log(scale) / std::log(static_cast<double>(ck.config.value("original_max_position_embeddings", h.n_ctx)))));
    }
  }
  return {};
}

}  // namespace troika::convert
