// Joint plans: every role's model on one card, and ranked ways out when they do not fit.
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "base/ascii.h"
#include "troika/plan.h"

namespace troika::plan {

namespace {

// From the largest to the smallest type the planner proposes, with a rough quality cost of
// stepping down to each (perplexity grows slowly down to Q4_K_M, then fast).
struct TypeStep {
  const char* type;
  double cost;
};
constexpr TypeStep kLadder[] = {{"F16", 0},    {"Q8_0", 0.5}, {"Q6_K", 1}, {"Q5_K_M", 1.5},
                                {"Q4_K_M", 2}, {"Q3_K_M", 6}, {"Q2_K", 12}};

int ladder_index(const std::string& type) {
  for (size_t i = 0; i < std::size(kLadder); ++i)
    if (ascii_upper(type) == kLadder[i].type) return static_cast<int>(i);
  return -1;
}
std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// A model to size: what it is and how it runs, before the estimate.
struct Draft {
  std::vector<std::string> roles;
  std::vector<int32_t> role_ctx;  // each role's share of ctx.n_ctx, in roles order
  const catalog::Family* family = nullptr;
  std::string type;
  std::string path;
  std::optional<catalog::GgufInfo> gguf;
  ContextSpec ctx;
};

// The shape and typed tensor list of a draft's model (from its file, or computed).
Status model_of(const Draft& d, ModelShape& shape, std::vector<Tensor>& tensors) {
  if (d.gguf) {
    TROIKA_ASSIGN_OR_RETURN(shape, shape_of(*d.gguf));
    tensors = tensors_of(*d.gguf);
    return Status::Ok();
  }
  shape = shape_of(*d.family);
  TROIKA_ASSIGN_OR_RETURN(tensors, tensors_for(shape, ascii_lower(d.type)));
  return Status::Ok();
}

Result<Estimate> size_of(const Draft& d) {
  ModelShape shape;
  std::vector<Tensor> tensors;
  TROIKA_RETURN_IF_ERROR(model_of(d, shape, tensors));
  return estimate(shape, tensors, d.ctx);
}

struct Totals {
  uint64_t device = 0, host = 0;
  std::vector<Estimate> per_model;
};

Result<Totals> totals_of(const std::vector<Draft>& drafts) {
  Totals t;
  for (const Draft& d : drafts) {
    TROIKA_ASSIGN_OR_RETURN(Estimate e, size_of(d));
    t.device += e.device.total();
    t.host += e.host.total();
    t.per_model.push_back(e);
  }
  return t;
}

struct Budget {
  bool gpu = true;
  uint64_t vram = 0, headroom = 0, ram = 0;
  bool fits(const Totals& t) const {
    if (gpu && t.device + headroom > vram) return false;
    if (ram && t.host > ram) return false;
    return true;
  }
  // The constrained side: GPU bytes when planning for a GPU, else host bytes.
  uint64_t used(const Totals& t) const { return gpu ? t.device : t.host; }
  uint64_t limit() const { return gpu ? (vram > headroom ? vram - headroom : 0) : ram; }
};

// A candidate single change to a plan, with the changed drafts.
struct Change {
  std::string change, flag;
  double cost = 0;
  std::vector<Draft> drafts;
};

void type_and_context_changes(const std::vector<Draft>& drafts, size_t i,
                              std::vector<Change>& out) {
  const Draft& d = drafts[i];
  const std::string who = d.roles.front();
  // A smaller type (computed models only: a given file has the type it has).
  const int at = ladder_index(d.type);
  if (!d.gguf && at >= 0 && at + 1 < static_cast<int>(std::size(kLadder))) {
    Change c;
    c.drafts = drafts;
    c.drafts[i].type = kLadder[at + 1].type;
    c.change = who + ": " + d.type + " -> " + kLadder[at + 1].type;
    c.flag = "--type " + who + "=" + kLadder[at + 1].type;
    c.cost = kLadder[at + 1].cost - kLadder[at].cost;
    out.push_back(std::move(c));
  }
  // A shorter context: halve each role's share (not below 1024 tokens).
  if (d.ctx.n_ctx >= 4096) {
    Change c;
    c.drafts = drafts;
    Draft& nd = c.drafts[i];
    nd.ctx.n_ctx = 0;
    std::vector<std::string> flags;
    for (size_t k = 0; k < nd.roles.size(); ++k) {
      nd.role_ctx[k] = std::max(1024, nd.role_ctx[k] / 2);
      nd.ctx.n_ctx += nd.role_ctx[k];
      flags.push_back("--ctx " + nd.roles[k] + "=" + std::to_string(nd.role_ctx[k]));
    }
    c.change = join(d.roles, "+") + ": context " + std::to_string(d.ctx.n_ctx) + " -> " +
               std::to_string(nd.ctx.n_ctx) + " tokens";
    c.flag = join(flags, " ");
    c.cost = nd.ctx.n_ctx >= 8192 ? 1.5 : 3;
    out.push_back(std::move(c));
  }
  // Gemma 2's sliding-window layers sized to the window.
  if (d.family && d.family->n_swa > 0 && d.ctx.swa_full && d.ctx.n_ctx > d.family->n_swa) {
    Change c;
    c.drafts = drafts;
    c.drafts[i].ctx.swa_full = false;
    c.change = who + ": sliding-window layers keep only their window";
    c.flag = "--swa-window " + who;
    c.cost = 1;  // the prefix cache can reuse less
    out.push_back(std::move(c));
  }
}

// Layers kept in RAM: the fewest whose bytes cover the deficit.
void offload_change(const std::vector<Draft>& drafts, size_t i, uint64_t deficit,
                    std::vector<Change>& out) {
  const Draft& d = drafts[i];
  ModelShape shape;
  std::vector<Tensor> tensors;
  if (!model_of(d, shape, tensors).ok() || shape.n_layer <= 0) return;
  const uint64_t all_on_gpu = estimate(shape, tensors, d.ctx).device.total();
  for (int32_t k = 1; k < shape.n_layer; ++k) {
    Draft moved = d;
    moved.ctx.n_gpu_layers = shape.n_layer + 1 - k;
    if (all_on_gpu - estimate(shape, tensors, moved.ctx).device.total() < deficit) continue;
    Change c;
    c.drafts = drafts;
    c.drafts[i].ctx.n_gpu_layers = moved.ctx.n_gpu_layers;
    c.change = d.roles.front() + ": keep " + std::to_string(k) + " of " +
               std::to_string(shape.n_layer) + " layers in RAM (slower decode)";
    c.flag = "--gpu-layers " + d.roles.front() + "=" + std::to_string(moved.ctx.n_gpu_layers);
    c.cost = 2 + 20.0 * k / shape.n_layer;
    out.push_back(std::move(c));
    return;
  }
}

std::vector<Change> candidate_changes(const catalog::Catalog& cat, const std::vector<Draft>& drafts,
                                      const Budget& budget, uint64_t deficit) {
  std::vector<Change> out;
  for (size_t i = 0; i < drafts.size(); ++i) {
    type_and_context_changes(drafts, i, out);
    if (budget.gpu && deficit > 0) offload_change(drafts, i, deficit, out);
  }
  // One role moves onto another model whose family it lists as an alternative.
  for (size_t i = 0; i < drafts.size(); ++i) {
    for (size_t j = 0; j < drafts.size(); ++j) {
      if (i == j || drafts[i].roles.size() != 1 || drafts[i].gguf || !drafts[j].family) continue;
      const catalog::Role* r = cat.role(drafts[i].roles.front());
      if (!r || std::find(r->alternatives.begin(), r->alternatives.end(), drafts[j].family->id) ==
                    r->alternatives.end())
        continue;
      Change c;
      c.drafts = drafts;
      c.drafts[j].roles.push_back(drafts[i].roles.front());
      c.drafts[j].role_ctx.push_back(drafts[i].ctx.n_ctx);
      c.drafts[j].ctx.n_ctx += drafts[i].ctx.n_ctx;
      c.drafts[j].ctx.n_seq += drafts[i].ctx.n_seq;
      c.drafts.erase(c.drafts.begin() + static_cast<long>(i));
      c.change = drafts[i].roles.front() + " shares " + drafts[j].roles.front() + "'s model (" +
                 drafts[j].family->id + ")";
      c.flag = "--share " + drafts[i].roles.front() + "=" + drafts[j].roles.front();
      c.cost = 4;  // the role loses its own backbone (e.g. the graph fine-tune)
      out.push_back(std::move(c));
    }
  }
  // The KV cache in q8_0.
  if (!std::all_of(drafts.begin(), drafts.end(),
                   [](const Draft& d) { return d.ctx.kv_type == KvType::kQ8_0; })) {
    Change c;
    c.drafts = drafts;
    for (Draft& d : c.drafts) d.ctx.kv_type = KvType::kQ8_0;
    c.change = "KV cache in q8_0 instead of f16 (every model)";
    c.flag = "--kv-type q8_0";
    c.cost = 1;
    out.push_back(std::move(c));
  }
  return out;
}

// Single changes, then a greedy combination (cheapest cost per GiB saved until it fits).
std::vector<Alternative> alternatives_for(const catalog::Catalog& cat,
                                          const std::vector<Draft>& drafts, const Budget& budget,
                                          const Totals& now) {
  std::vector<Alternative> out;
  const uint64_t used = budget.used(now), limit = budget.limit();
  for (Change& c : candidate_changes(cat, drafts, budget, used > limit ? used - limit : 0)) {
    auto ct = totals_of(c.drafts);
    if (!ct.ok()) continue;
    out.push_back(
        {c.change, c.flag, static_cast<int64_t>(budget.used(*ct)), budget.fits(*ct), c.cost});
  }
  std::vector<Draft> cur = drafts;
  std::vector<std::string> steps, flags;
  double cost = 0;
  for (int round = 0; round < 12; ++round) {
    auto ct = totals_of(cur);
    if (!ct.ok() || budget.fits(*ct)) break;
    const uint64_t before = budget.used(*ct);
    double best = 1e18;
    std::optional<Change> pick;
    for (Change& c : candidate_changes(cat, cur, budget, before > limit ? before - limit : 0)) {
      auto nt = totals_of(c.drafts);
      if (!nt.ok() || budget.used(*nt) >= before) continue;
      const double score = c.cost / (static_cast<double>(before - budget.used(*nt)) / (1 << 30));
      if (score < best) {
        best = score;
        pick = std::move(c);
      }
    }
    if (!pick) break;
    steps.push_back(pick->change);
    flags.push_back(pick->flag);
    cost += pick->cost;
    cur = std::move(pick->drafts);
  }
  auto final_totals = totals_of(cur);
  if (steps.size() > 1 && final_totals.ok()) {
    out.push_back({join(steps, "; "), join(flags, " "),
                   static_cast<int64_t>(budget.used(*final_totals)), budget.fits(*final_totals),
                   cost});
  }
  std::stable_sort(out.begin(), out.end(), [](const Alternative& a, const Alternative& b) {
    if (a.fits != b.fits) return a.fits;
    if (a.fits) return a.cost < b.cost;
    return a.device_bytes < b.device_bytes;
  });
  return out;
}

// The draft of a role that owns its model.
Result<Draft> own_draft(const catalog::Catalog& cat, const RoleRequest& r,
                        const catalog::Role* role, KvType kv_type, bool gpu) {
  Draft d;
  d.roles = {r.role};
  const std::string fam = !r.family.empty() ? r.family : role ? role->family : "";
  d.path = r.path;
  if (!r.path.empty()) {
    TROIKA_ASSIGN_OR_RETURN(catalog::GgufInfo g, catalog::read_gguf(r.path));
    d.type = g.file_type.empty() ? "?" : g.file_type;
    // The family by shape, for names and alternatives; the file's own facts are what count.
    for (const catalog::Family& f : cat.families()) {
      if (d.family || f.n_embd != g.n_embd || f.n_layer != g.n_layer || f.n_vocab != g.n_vocab)
        continue;
      d.family = &f;
    }
    const catalog::Family* asked = cat.family(fam);
    if (asked && d.family && asked->n_embd == d.family->n_embd &&
        asked->n_layer == d.family->n_layer)
      d.family = asked;
    d.gguf = std::move(g);
  } else {
    d.family = cat.family(fam);
    if (!d.family) return invalid_argument("role " + r.role + ": unknown family '" + fam + "'");
    d.type = ascii_upper(!r.gguf_type.empty()               ? r.gguf_type
                   : role && !role->gguf_type.empty() ? role->gguf_type
                                                      : "Q4_K_M");
  }
  d.ctx.n_ctx = r.ctx > 0 ? r.ctx : role ? role->ctx : 4096;
  d.ctx.n_seq = r.parallel > 0 ? r.parallel : role ? role->parallel : 1;
  d.role_ctx = {d.ctx.n_ctx};
  d.ctx.kv_type = kv_type;
  d.ctx.gpu = gpu;
  d.ctx.n_gpu_layers = r.n_gpu_layers;
  d.ctx.swa_full = !r.swa_window;
  return d;
}

}  // namespace

Result<Plan> make_plan(const catalog::Catalog& cat, const PlanRequest& req) {
  std::vector<RoleRequest> roles = req.roles;
  if (roles.empty()) {
    for (const char* r : catalog::kRoles) roles.push_back({r});
  }
  Budget budget;
  budget.gpu = req.gpu;
  budget.vram = req.vram_bytes ? req.vram_bytes : cat.defaults().vram_bytes;
  budget.headroom = req.headroom_bytes ? req.headroom_bytes : cat.defaults().headroom_bytes;
  budget.ram = req.ram_bytes;
  KvType kv_type = KvType::kF16;
  if (req.kv_type) {
    kv_type = *req.kv_type;
  } else {
    TROIKA_ASSIGN_OR_RETURN(kv_type, parse_kv_type(cat.defaults().kv_type));
  }

  std::map<std::string, const RoleRequest*> by_name;
  for (const RoleRequest& r : roles) {
    if (!catalog::is_role(r.role))
      return invalid_argument("unknown role '" + r.role +
                              "'; roles are brain, rag, fast, tool, graph");
    if (by_name.count(r.role)) return invalid_argument("role '" + r.role + "' is given twice");
    by_name[r.role] = &r;
  }
  // Owners first, then the roles that share an owner's model (its context and sequences grow).
  std::vector<Draft> drafts;
  std::map<std::string, size_t> model_of;
  std::vector<std::pair<const RoleRequest*, std::string>> sharers;
  for (const RoleRequest& r : roles) {
    const catalog::Role* role = cat.role(r.role);
    const std::string share = !r.share_with.empty()  ? r.share_with
                              : !r.own_model && role ? role->shares
                                                     : "";
    if (share == r.role) return invalid_argument("role '" + r.role + "' cannot share with itself");
    if (!share.empty() && by_name.count(share) && r.path.empty()) {
      sharers.push_back({&r, share});
      continue;
    }
    TROIKA_ASSIGN_OR_RETURN(Draft d, own_draft(cat, r, role, kv_type, req.gpu));
    model_of[r.role] = drafts.size();
    drafts.push_back(std::move(d));
  }
  for (const auto& [r, share] : sharers) {
    if (!model_of.count(share))
      return invalid_argument("role '" + r->role + "' shares '" + share +
                              "', which shares too; name the role that owns the model");
    const catalog::Role* role = cat.role(r->role);
    Draft& d = drafts[model_of[share]];
    d.roles.push_back(r->role);
    d.role_ctx.push_back(r->ctx > 0 ? r->ctx : role ? role->ctx : 4096);
    d.ctx.n_ctx += d.role_ctx.back();
    d.ctx.n_seq += r->parallel > 0 ? r->parallel : role ? role->parallel : 1;
    model_of[r->role] = model_of[share];
  }

  TROIKA_ASSIGN_OR_RETURN(Totals t, totals_of(drafts));
  Plan plan;
  plan.vram_bytes = budget.vram;
  plan.headroom_bytes = budget.headroom;
  plan.ram_bytes = budget.ram;
  plan.device_bytes = t.device;
  plan.host_bytes = t.host;
  plan.fits = budget.fits(t);
  for (size_t i = 0; i < drafts.size(); ++i) {
    const Draft& d = drafts[i];
    plan.models.push_back({d.roles, d.family ? d.family->id : "", d.type, d.path,
                           d.gguf ? "file" : "catalog", d.ctx, t.per_model[i]});
  }
  if (!req.gpu) plan.notes.push_back("CPU only: every byte is in system memory");
  if (!plan.fits) plan.alternatives = alternatives_for(cat, drafts, budget, t);
  return plan;
}

std::string Plan::to_json() const {
  nlohmann::ordered_json j;
  j["fits"] = fits;
  j["vram_bytes"] = vram_bytes;
  j["headroom_bytes"] = headroom_bytes;
  j["ram_bytes"] = ram_bytes;
  j["device_bytes"] = device_bytes;
  j["host_bytes"] = host_bytes;
  j["models"] = nlohmann::ordered_json::array();
  auto bytes = [](const Bytes& b) {
    return nlohmann::ordered_json{{"weights", b.weights},
                                  {"kv", b.kv},
                                  {"compute", b.compute},
                                  {"output", b.output},
                                  {"total", b.total()}};
  };
  for (const ModelPlan& m : models) {
    const char* kv = m.context.kv_type == KvType::kQ8_0  ? "q8_0"
                     : m.context.kv_type == KvType::kF32 ? "f32"
                                                         : "f16";
    j["models"].push_back({{"roles", m.roles},
                           {"family", m.family},
                           {"gguf_type", m.gguf_type},
                           {"path", m.path},
                           {"source", m.source},
                           {"n_ctx", m.context.n_ctx},
                           {"n_seq", m.context.n_seq},
                           {"kv_type", kv},
                           {"swa_full", m.context.swa_full},
                           {"n_gpu_layers", m.context.n_gpu_layers},
                           {"kv_cells", m.memory.kv_cells},
                           {"kv_cells_swa", m.memory.kv_cells_swa},
                           {"device", bytes(m.memory.device)},
                           {"host", bytes(m.memory.host)}});
  }
  j["alternatives"] = nlohmann::ordered_json::array();
  for (const Alternative& a : alternatives) {
    j["alternatives"].push_back({{"change", a.change},
                                 {"flag", a.flag},
                                 {"device_bytes", a.device_bytes},
                                 {"fits", a.fits},
                                 {"cost", a.cost}});
  }
  j["notes"] = notes;
  return j.dump(2);
}

}  // namespace troika::plan
