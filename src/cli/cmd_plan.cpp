// troika plan
#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>

#include "cli/cli.h"
#include "troika/plan.h"
#include "troika/units.h"

namespace troika::cli {

namespace {

struct PlanFlags {
  std::string vram, ram, headroom, roles, kv_type, catalog_path;
  std::vector<std::string> ctx, parallel, types, models, shares, gpu_layers, swa_window;
  bool cpu = false, as_json = false;
};

// "ROLE=VALUE" -> (role, value). Errors: invalid_argument naming the flag.
Result<std::pair<std::string, std::string>> split_role(const std::string& flag,
                                                       const std::string& item) {
  const size_t eq = item.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
    return invalid_argument(flag + " takes ROLE=VALUE, not '" + item + "'");
  return std::make_pair(item.substr(0, eq), item.substr(eq + 1));
}

Result<plan::RoleRequest*> role_entry(std::vector<plan::RoleRequest>& roles,
                                      const std::string& name, const std::string& flag) {
  for (auto& r : roles)
    if (r.role == name) return &r;
  return invalid_argument(flag + " names role '" + name +
                          "', which is not planned (--roles lists the planned roles)");
}

Result<int> to_int(const std::string& flag, const std::string& v) {
  try {
    size_t used = 0;
    const int n = std::stoi(v, &used);
    if (used == v.size() && n >= -1) return n;
  } catch (...) {
  }
  return invalid_argument(flag + ": '" + v + "' is not a number");
}

Status parse_roles(const std::string& list, std::vector<plan::RoleRequest>& out) {
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = list.find(',', start);
    const std::string name =
        list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!name.empty()) {
      if (!catalog::is_role(name))
        return invalid_argument("--roles: unknown role '" + name +
                                "'; roles are brain, rag, fast, tool, graph");
      out.push_back({name});
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return Status::Ok();
}

Result<plan::PlanRequest> request_of(const PlanFlags& f) {
  plan::PlanRequest req;
  if (!f.vram.empty()) {
    TROIKA_ASSIGN_OR_RETURN(req.vram_bytes, parse_bytes(f.vram));
  }
  if (!f.ram.empty()) {
    TROIKA_ASSIGN_OR_RETURN(req.ram_bytes, parse_bytes(f.ram));
  }
  if (!f.headroom.empty()) {
    TROIKA_ASSIGN_OR_RETURN(req.headroom_bytes, parse_bytes(f.headroom));
  }
  if (!f.kv_type.empty()) {
    TROIKA_ASSIGN_OR_RETURN(req.kv_type, plan::parse_kv_type(f.kv_type));
  }
  req.gpu = !f.cpu;
  TROIKA_RETURN_IF_ERROR(
      parse_roles(f.roles.empty() ? "brain,rag,fast,tool,graph" : f.roles, req.roles));
  using Apply = std::function<Status(plan::RoleRequest&, const std::string&)>;
  struct Each {
    const char* flag;
    const std::vector<std::string>* items;
    Apply apply;
  };
  auto number = [](int32_t plan::RoleRequest::*field, const char* flag) -> Apply {
    return [=](plan::RoleRequest& r, const std::string& v) -> Status {
      TROIKA_ASSIGN_OR_RETURN(r.*field, to_int(flag, v));
      return Status::Ok();
    };
  };
  const Each each[] = {
      {"--ctx", &f.ctx, number(&plan::RoleRequest::ctx, "--ctx")},
      {"--parallel", &f.parallel, number(&plan::RoleRequest::parallel, "--parallel")},
      {"--gpu-layers", &f.gpu_layers, number(&plan::RoleRequest::n_gpu_layers, "--gpu-layers")},
      {"--type", &f.types,
       [](plan::RoleRequest& r, const std::string& v) -> Status {
         r.gguf_type = v;
         return Status::Ok();
       }},
      {"--model", &f.models,
       [](plan::RoleRequest& r, const std::string& v) -> Status {
         r.path = v;
         return Status::Ok();
       }},
      {"--share", &f.shares,
       [](plan::RoleRequest& r, const std::string& v) -> Status {
         if (v == "none") {
           r.own_model = true;
         } else {
           r.share_with = v;
         }
         return Status::Ok();
       }},
  };
  for (const std::string& name : f.swa_window) {
    TROIKA_ASSIGN_OR_RETURN(plan::RoleRequest * r, role_entry(req.roles, name, "--swa-window"));
    r->swa_window = true;
  }
  for (const Each& e : each) {
    for (const std::string& item : *e.items) {
      TROIKA_ASSIGN_OR_RETURN(auto kv, split_role(e.flag, item));
      TROIKA_ASSIGN_OR_RETURN(plan::RoleRequest * r, role_entry(req.roles, kv.first, e.flag));
      TROIKA_RETURN_IF_ERROR(e.apply(*r, kv.second));
    }
  }
  return req;
}

void print_plan(const plan::Plan& p, bool gpu) {
  std::printf("%-16s %-20s %-8s %7s %4s %10s %10s %10s %10s\n", "roles", "model", "type", "ctx",
              "seq", "weights", "kv", "compute", gpu ? "gpu total" : "total");
  for (const auto& m : p.models) {
    std::string roles;
    for (const auto& r : m.roles) roles += (roles.empty() ? "" : "+") + r;
    const plan::Bytes& b = gpu ? m.memory.device : m.memory.host;
    std::printf("%-16s %-20s %-8s %7d %4d %10s %10s %10s %10s\n", roles.c_str(),
                m.family.empty() ? "(file)" : m.family.c_str(), m.gguf_type.c_str(),
                m.context.n_ctx, m.context.n_seq, format_bytes(b.weights).c_str(),
                format_bytes(b.kv).c_str(), format_bytes(b.compute).c_str(),
                format_bytes(b.weights + b.kv + b.compute).c_str());
    if (!m.path.empty()) std::printf("  from %s\n", m.path.c_str());
    if (gpu && m.context.n_gpu_layers >= 0)
      std::printf("  %d layers on the GPU\n", m.context.n_gpu_layers);
  }
  if (gpu) {
    const int64_t left = static_cast<int64_t>(p.vram_bytes) - static_cast<int64_t>(p.device_bytes) -
                         static_cast<int64_t>(p.headroom_bytes);
    std::printf("\nGPU %s of %s (+ %s headroom): %s, %s %s\n", format_bytes(p.device_bytes).c_str(),
                format_bytes(p.vram_bytes).c_str(), format_bytes(p.headroom_bytes).c_str(),
                p.fits ? "fits" : "DOES NOT FIT", format_bytes_signed(left).c_str(),
                left >= 0 ? "to spare" : "over");
  }
  std::printf("host memory %s (token embeddings, logits, CPU-side buffers)%s\n",
              format_bytes(p.host_bytes).c_str(),
              p.ram_bytes ? (" of " + format_bytes(p.ram_bytes)).c_str() : "");
  if (!gpu && !p.fits) std::printf("DOES NOT FIT\n");
  for (const auto& n : p.notes) std::printf("note: %s\n", n.c_str());
  if (!p.alternatives.empty()) {
    std::printf("\nalternatives, best first:\n");
    for (const auto& a : p.alternatives) {
      std::printf("  %s %-60s %10s  %s\n", a.fits ? "fits" : "    ", a.change.c_str(),
                  format_bytes(a.device_bytes).c_str(), a.flag.c_str());
    }
  }
}

}  // namespace

void add_plan_command(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "plan",
      "Plan GPU memory for the roles together: the model, type, weights, KV cache and compute "
      "buffers of each, the total against the budget, and ranked alternatives when it does not "
      "fit");
  auto f = std::make_shared<PlanFlags>();
  cmd->add_option("--vram", f->vram, "GPU memory budget (default: the catalog's, 20GiB)");
  cmd->add_option("--ram", f->ram, "system memory budget (checked when given)");
  cmd->add_option("--headroom", f->headroom, "GPU memory kept free (default 512MiB)");
  cmd->add_option("--roles", f->roles, "comma-separated roles (default brain,rag,fast,tool,graph)");
  cmd->add_option("--ctx", f->ctx, "ROLE=TOKENS: the role's KV cache (repeatable)");
  cmd->add_option("--parallel", f->parallel, "ROLE=N: the role's concurrent sequences");
  cmd->add_option("--type", f->types, "ROLE=TYPE: GGUF type (Q8_0, Q6_K, Q4_K_M, F16, ...)");
  cmd->add_option("--model", f->models, "ROLE=FILE.gguf: plan from this file's real tensors");
  cmd->add_option("--share", f->shares, "ROLE=OTHER: use OTHER's model; ROLE=none: its own");
  cmd->add_option("--gpu-layers", f->gpu_layers, "ROLE=N: layers on the GPU (-1 = all)");
  cmd->add_option("--swa-window", f->swa_window,
                  "ROLE: sliding-window layers keep only their window (Gemma 2)");
  cmd->add_option("--kv-type", f->kv_type, "KV cache type: f16 | q8_0 (default: the catalog's)");
  cmd->add_flag("--cpu", f->cpu, "plan for CPU only (system memory)");
  cmd->add_option("--catalog", f->catalog_path, "catalog TOML instead of the embedded one");
  cmd->add_flag("--json", f->as_json, "print the plan as JSON");
  cmd->callback([=] {
    auto c = load_catalog(f->catalog_path);
    if (!c.ok()) {
      *exit_code = report(c.status());
      return;
    }
    auto req = request_of(*f);
    if (!req.ok()) {
      *exit_code = report(req.status());
      return;
    }
    auto p = plan::make_plan(*c, *req);
    if (!p.ok()) {
      *exit_code = report(p.status());
      return;
    }
    if (f->as_json) {
      std::printf("%s\n", p->to_json().c_str());
    } else {
      print_plan(*p, req->gpu);
    }
    // A plan that does not fit is an answer, not an error, but scripts need to tell.
    if (!p->fits) *exit_code = troika::exit_code(Code::kResourceExhausted);
  });
}

}  // namespace troika::cli
