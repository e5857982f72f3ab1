// Host::up(): resolve, plan, load once, bind, check.
#include "troika/host.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "base/ascii.h"
#include "troika/constrain.h"
#include "troika/schedule.h"
#include "troika/units.h"

namespace troika::host {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

class LocalClient : public RoleClient {
 public:
  LocalClient(std::shared_ptr<schedule::Scheduler> s, std::string path)
      : sched_(std::move(s)), path_(std::move(path)) {}
  bool is_remote() const override { return false; }
  std::string describe() const override { return path_; }
  schedule::Scheduler* scheduler() override { return sched_.get(); }

  Result<ChatResult> chat(const ChatRequest& r) override {
    if (r.messages.empty()) return invalid_argument("a chat request needs at least one message");
    if (r.n < 1 || r.max_tokens < 1) return invalid_argument("n and max_tokens must be at least 1");
    if (!r.tools.empty()) {
      return invalid_argument("local roles take tools through the tools pipeline " +
                              std::string("(pipeline::tools, `troika tools`), not chat()"));
    }
    schedule::Request q;
    if (!r.json_schema.empty()) {
      TROIKA_ASSIGN_OR_RETURN(q.constraint, schema_constraint(r.json_schema));
    }
    q.logprobs = r.logprobs;
    q.messages = r.messages;
    q.sampling.temperature = r.temperature;
    q.sampling.top_p = r.top_p;
    q.sampling.seed = r.seed;
    q.max_tokens = r.max_tokens;
    q.stop = r.stop;
    q.n = r.n;
    q.deadline = r.deadline;
    q.reproducible = r.reproducible;
    const auto t0 = Clock::now();
    TROIKA_ASSIGN_OR_RETURN(schedule::Completion c,
                            sched_->submit(std::move(q)).get(r.cancel.get()));
    ChatResult out;
    out.prompt_tokens = c.n_prompt;
    out.cached_tokens = c.n_prompt_cached;
    for (const auto& s : c.samples) {
      ChatChoice choice{s.text, s.finish == engine::FinishReason::kLength ? "length" : "stop"};
      if (r.logprobs) {
        choice.has_logprob = true;
        choice.n_tokens = static_cast<int32_t>(s.logprobs.size());
        for (const auto& t : s.logprobs) choice.logprob += t.logprob;
      }
      out.choices.push_back(std::move(choice));
      out.completion_tokens += static_cast<int32_t>(s.tokens.size());
    }
    out.ms = ms_since(t0);
    return out;
  }

 private:
  // A JSON Schema as a token constraint over this model's vocabulary (the index is built once
  // per model and shared).
  Result<std::unique_ptr<schedule::Constraint>> schema_constraint(const std::string& schema) {
    auto compiled = constrain::Schema::compile(schema);
    if (!compiled.ok()) {
      return Status(compiled.status().code(), "json_schema: " + compiled.status().message());
    }
    TROIKA_ASSIGN_OR_RETURN(auto index, constrain::TokenIndex::shared(sched_->shared_model()));
    TROIKA_ASSIGN_OR_RETURN(auto c, constrain::json_constraint(*compiled, index));
    return std::unique_ptr<schedule::Constraint>(std::move(c));
  }

  std::shared_ptr<schedule::Scheduler> sched_;
  std::string path_;
};

}  // namespace

std::unique_ptr<RoleClient> local_client(std::shared_ptr<schedule::Scheduler> scheduler,
                                         std::string describe) {
  return std::make_unique<LocalClient>(std::move(scheduler), std::move(describe));
}

namespace {

bool looks_like_path(const std::string& m) {
  std::error_code ec;
  return m.ends_with(".gguf") || m.starts_with("/") || m.starts_with("./") || fs::exists(m, ec);
}

// MemAvailable from /proc/meminfo; 0 (not checked) when it cannot be read.
uint64_t available_memory() {
  std::ifstream f("/proc/meminfo");
  std::string key, unit;
  uint64_t kb = 0;
  while (f >> key >> kb >> unit) {
    if (key == "MemAvailable:") return kb * 1024;
  }
  return 0;
}

// A role's model as a GGUF path: the file itself, or a catalog id found on disk.
Result<std::string> resolve_model(const RoleConfig& rc, const catalog::Catalog& cat,
                                  const std::vector<catalog::Found>& found) {
  const std::string& m = rc.model;
  std::error_code ec;
  if (looks_like_path(m)) {
    if (!fs::is_regular_file(m, ec)) {
      return not_found("role " + rc.role + ": model file not found: " + m +
                       " (give a .gguf path, a catalog id from `troika catalog`, or convert a "
                       "checkpoint with `troika convert`)");
    }
    return m;
  }
  const catalog::Variant* v = cat.variant(m);
  const catalog::Family* f = v ? cat.family(v->family) : cat.family(m);
  if (!f) {
    return not_found("role " + rc.role + ": '" + m + "' is neither a file nor a catalog id " +
                     "(`troika catalog` lists the ids)");
  }
  for (const catalog::Found& x : found) {
    if (x.family != f->id || x.layout != "gguf") continue;
    if (v && v->format == "gguf" && x.variant != v->id) continue;
    bool type_ok = rc.type.empty() || ascii_upper(x.quant) == ascii_upper(rc.type);
    if (v && v->format == "gguf" && rc.type.empty() && !v->default_file.empty())
      type_ok = fs::path(x.path).filename() == v->default_file;
    if (type_ok) return x.path;
  }
  std::string hint;
  for (const catalog::Found& x : found)
    if (x.family == f->id && x.needs_convert)
      hint = "; a checkpoint is there, convert it: " + x.convert_command;
  return not_found("role " + rc.role + ": no GGUF of " + m +
                   (rc.type.empty() ? "" : " (" + rc.type + ")") + " in the model folders" +
                   (hint.empty() ? " (`troika models` shows what is there)" : hint));
}

// Discovery over the config's folders and the defaults, when some role names a catalog id.
Result<std::vector<catalog::Found>> discover_for(const HostConfig& config,
                                                 const catalog::Catalog& cat) {
  bool needed = false;
  for (const RoleConfig& rc : config.roles)
    needed |= !rc.model.empty() && !looks_like_path(rc.model);
  if (!needed) return std::vector<catalog::Found>{};
  std::vector<std::string> dirs;
  for (const auto& d : config.model_dirs) {
    std::error_code ec;
    if (fs::exists(d, ec)) dirs.push_back(d);
  }
  for (const auto& d : catalog::default_model_dirs()) dirs.push_back(d);
  return catalog::discover(cat, dirs);
}

// The plan request for the local roles (the same file named twice is one model).
Result<plan::PlanRequest> plan_request(const HostConfig& config, const catalog::Catalog& cat,
                                       const std::vector<catalog::Found>& found) {
  plan::PlanRequest req;
  req.vram_bytes = config.vram_bytes;
  req.ram_bytes = config.ram_bytes;
  // A build without GPU offload keeps everything in system memory: plan for that, against the
  // memory the machine has free unless the config names a budget.
  req.gpu = config.gpu && engine::supports_gpu_offload();
  if (!req.gpu && req.ram_bytes == 0) req.ram_bytes = available_memory();
  if (!config.kv_type.empty()) {
    TROIKA_ASSIGN_OR_RETURN(req.kv_type, plan::parse_kv_type(config.kv_type));
  }
  std::map<std::string, std::string> owner_of_path;
  for (const RoleConfig& rc : config.roles) {
    if (!rc.remote.empty()) continue;
    plan::RoleRequest rr;
    rr.role = rc.role;
    rr.ctx = rc.ctx;
    rr.parallel = rc.parallel;
    rr.n_gpu_layers = rc.gpu_layers;
    if (!rc.share.empty()) {
      rr.share_with = rc.share;
    } else {
      TROIKA_ASSIGN_OR_RETURN(std::string p, resolve_model(rc, cat, found));
      const std::string key = fs::weakly_canonical(p).string();
      if (owner_of_path.count(key)) {
        rr.share_with = owner_of_path[key];
      } else {
        owner_of_path[key] = rc.role;
        rr.path = p;
        rr.own_model = true;
      }
    }
    req.roles.push_back(rr);
  }
  return req;
}

Status over_budget(const plan::Plan& p, bool gpu) {
  std::string m;
  if (gpu && p.device_bytes + p.headroom_bytes > p.vram_bytes) {
    m = "the configuration needs " + format_bytes(p.device_bytes) + " of GPU memory + " +
        format_bytes(p.headroom_bytes) + " headroom, more than " + format_bytes(p.vram_bytes);
  } else {
    m = "the configuration needs " + format_bytes(p.host_bytes) + " of system memory, more than " +
        format_bytes(p.ram_bytes);
  }
  m += "; nothing was loaded.";
  int shown = 0;
  for (const auto& a : p.alternatives) {
    if (!a.fits || shown == 3) continue;
    m += (shown++ ? "; or " : " Try: ") + a.change + " (`troika plan " + a.flag + "`)";
  }
  return resource_exhausted(m);
}

engine::KvType engine_kv(plan::KvType t) {
  return t == plan::KvType::kQ8_0  ? engine::KvType::kQ8_0
         : t == plan::KvType::kF32 ? engine::KvType::kF32
                                   : engine::KvType::kF16;
}

}  // namespace

struct Host::Impl {
  std::map<std::string, std::unique_ptr<RoleClient>> clients;
  std::vector<std::shared_ptr<schedule::Scheduler>> schedulers;
  std::vector<RoleStatus> status;
  plan::Plan plan;

  Status load(const plan::ModelPlan& mp, const HostConfig& config, bool gpu, const UpOptions& opt);
  Status connect(const RoleConfig& rc, const UpOptions& opt);
  Status smoke(const UpOptions& opt);
};

Status Host::Impl::load(const plan::ModelPlan& mp, const HostConfig& config, bool gpu,
                        const UpOptions& opt) {
  const std::string& owner = mp.roles.front();
  int32_t gpu_layers = -1;
  for (const RoleConfig& c : config.roles)
    if (c.role == owner) gpu_layers = c.gpu_layers;
  const auto t0 = Clock::now();
  if (opt.on_progress) opt.on_progress("loading " + mp.path + " for " + owner);
  engine::ModelOptions mo;
  mo.n_gpu_layers = gpu_layers;
  auto model = engine::Model::load(mp.path, mo);
  if (!model.ok())
    return Status(model.status().code(), "role " + owner + ": " + model.status().message());
  schedule::SchedulerOptions so;
  so.n_ctx = mp.context.n_ctx;
  so.n_seq_max = std::min(256, std::max(1, mp.context.n_seq));
  so.n_threads = opt.n_threads;
  so.kv_type = engine_kv(mp.context.kv_type);
  so.swa_full = mp.context.swa_full;
  so.prefix_cache_tokens = std::min(so.prefix_cache_tokens, mp.context.n_ctx / 2);
  auto sched = schedule::Scheduler::create(*model, so);
  if (!sched.ok())
    return Status(sched.status().code(), "role " + owner + ": " + sched.status().message());
  std::shared_ptr<schedule::Scheduler> shared(std::move(*sched));
  schedulers.push_back(shared);
  const double load_ms = ms_since(t0);
  for (const std::string& role : mp.roles) {
    clients[role] = std::make_unique<LocalClient>(shared, mp.path);
    RoleStatus st;
    st.role = role;
    st.model = mp.path;
    st.shared_with = role == owner ? "" : owner;
    st.family = mp.family;
    st.gguf_type = mp.gguf_type;
    st.n_ctx = mp.context.n_ctx;
    st.n_seq = mp.context.n_seq;
    if (role == owner) {
      st.planned_bytes = gpu ? mp.memory.device.total() : mp.memory.host.total();
      st.load_ms = load_ms;
    }
    status.push_back(st);
  }
  return Status::Ok();
}

Status Host::Impl::connect(const RoleConfig& rc, const UpOptions& opt) {
  std::string key;
  if (!rc.api_key_env.empty()) {
    const char* v = std::getenv(rc.api_key_env.c_str());
    if (!v || !*v) {
      return not_found("role " + rc.role + ": the API key variable " + rc.api_key_env +
                       " is not set (export it, or drop api_key_env for an open endpoint)");
    }
    key = v;
  }
  TROIKA_ASSIGN_OR_RETURN(std::unique_ptr<RoleClient> client,
                          remote_client(rc.remote, rc.remote_model, key, rc.timeout_s));
  const auto t0 = Clock::now();
  if (opt.on_progress) opt.on_progress("checking " + rc.remote + " for " + rc.role);
  ChatRequest ping;
  ping.messages = {{"user", "ping"}};
  ping.max_tokens = 1;
  auto r = client->chat(ping);
  if (!r.ok()) return Status(r.status().code(), "role " + rc.role + ": " + r.status().message());
  RoleStatus st;
  st.role = rc.role;
  st.remote = true;
  st.model = client->describe();
  st.load_ms = ms_since(t0);
  status.push_back(st);
  clients[rc.role] = std::move(client);
  return Status::Ok();
}

Status Host::Impl::smoke(const UpOptions& opt) {
  for (RoleStatus& st : status) {
    if (opt.on_progress) opt.on_progress("smoke test: " + st.role);
    ChatRequest q;
    q.messages = {{"user", "Say hello in five words."}};
    q.max_tokens = opt.smoke_tokens;
    const auto t0 = Clock::now();
    auto r = clients[st.role]->chat(q);
    if (!r.ok()) {
      return Status(r.status().code(),
                    "role " + st.role + " smoke generation failed: " + r.status().message());
    }
    std::string text = r->choices.empty() ? "" : r->choices[0].text;
    for (char& c : text)
      if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    st.smoke = text;
    st.smoke_ms = ms_since(t0);
  }
  return Status::Ok();
}

Host::Host(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Host::~Host() = default;

RoleClient* Host::role(std::string_view name) const {
  auto it = impl_->clients.find(std::string(name));
  return it == impl_->clients.end() ? nullptr : it->second.get();
}
const std::vector<RoleStatus>& Host::roles() const { return impl_->status; }
const plan::Plan& Host::plan() const { return impl_->plan; }

Result<std::unique_ptr<Host>> Host::up(const HostConfig& all, const catalog::Catalog& cat,
                                       const UpOptions& opt) {
  HostConfig config = all;  // without the embed role, which the knowledge base loads
  std::erase_if(config.roles, [](const RoleConfig& r) { return r.role == kEmbedRole; });
  if (config.roles.empty()) {
    return invalid_argument(config.origin + ": no roles to bring up" +
                            (all.roles.empty() ? "" : " (the embed role is the knowledge base's)"));
  }
  // 1. Resolve every local model to a file, 2. plan them together before loading anything.
  TROIKA_ASSIGN_OR_RETURN(std::vector<catalog::Found> found, discover_for(config, cat));
  TROIKA_ASSIGN_OR_RETURN(plan::PlanRequest req, plan_request(config, cat, found));
  auto impl = std::make_unique<Impl>();
  if (!req.roles.empty()) {
    TROIKA_ASSIGN_OR_RETURN(impl->plan, plan::make_plan(cat, req));
    if (!impl->plan.fits) return over_budget(impl->plan, req.gpu);
  }
  // 3. Each model once, with its scheduler; 4. remote roles checked; 5. one line per role.
  for (const plan::ModelPlan& mp : impl->plan.models)
    TROIKA_RETURN_IF_ERROR(impl->load(mp, config, req.gpu, opt));
  for (const RoleConfig& rc : config.roles)
    if (!rc.remote.empty()) TROIKA_RETURN_IF_ERROR(impl->connect(rc, opt));
  if (opt.smoke) TROIKA_RETURN_IF_ERROR(impl->smoke(opt));
  std::stable_sort(impl->status.begin(), impl->status.end(),
                   [](const RoleStatus& a, const RoleStatus& b) {
                     return catalog::role_rank(a.role) < catalog::role_rank(b.role);
                   });
  return std::unique_ptr<Host>(new Host(std::move(impl)));
}

}  // namespace troika::host
