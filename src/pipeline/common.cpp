#include "pipeline/common.h"

#include <algorithm>
#include <cmath>

namespace troika::pipeline {

namespace {
thread_local const Control* tl_control = nullptr;
}  // namespace

ScopedControl::ScopedControl(Control control) : control_(std::move(control)), outer_(tl_control) {
  tl_control = &control_;
}
ScopedControl::~ScopedControl() { tl_control = outer_; }
const Control& ScopedControl::current() {
  static const Control kNone;
  return tl_control ? *tl_control : kNone;
}

}  // namespace troika::pipeline

namespace troika::pipeline::detail {

Result<std::vector<engine::ChatMessage>> messages_of(const Prompt& p) {
  std::vector<engine::ChatMessage> out;
  if (!p.messages.empty()) {
    out = p.messages;
  } else {
    if (!p.system.empty()) out.push_back({"system", p.system});
    for (const auto& [user, assistant] : p.examples) {
      out.push_back({"user", user});
      out.push_back({"assistant", assistant});
    }
    if (!p.prompt.empty()) out.push_back({"user", p.prompt});
  }
  const bool has_user = std::any_of(out.begin(), out.end(), [](const engine::ChatMessage& m) {
    return m.role == "user" && !m.content.empty();
  });
  if (!has_user) return invalid_argument("give a prompt (or messages with a user turn)");
  return out;
}

Usage start_usage(host::RoleClient& role) {
  Usage u;
  u.backend = role.is_remote() ? "remote" : "local";
  return u;
}

Result<host::ChatResult> chat(host::RoleClient& role, const host::ChatRequest& request,
                              Usage& usage) {
  TROIKA_ASSIGN_OR_RETURN(host::ChatResult r, role.chat(request));
  usage.calls += 1;
  usage.prompt_tokens += r.prompt_tokens;
  usage.cached_tokens += r.cached_tokens;
  usage.completion_tokens += r.completion_tokens;
  return r;
}

host::ChatRequest chat_request(std::vector<engine::ChatMessage> messages, const Sampling& s) {
  host::ChatRequest r;
  r.messages = std::move(messages);
  r.max_tokens = s.max_tokens;
  r.temperature = s.temperature;
  r.top_p = s.top_p;
  r.seed = s.seed;
  const Control& c = ScopedControl::current();
  r.deadline = c.deadline;
  r.cancel = c.cancel;
  r.reproducible = c.reproducible;
  return r;
}

Result<SplitPrompt> split_prompt(const engine::Model& model,
                                 const std::vector<engine::ChatMessage>& messages,
                                 std::string_view marker) {
  TROIKA_ASSIGN_OR_RETURN(std::string text, model.render_chat(messages));
  const size_t at = text.find(marker);
  if (at == std::string::npos) {
    return internal_error("the chat template dropped the prompt's content marker");
  }
  SplitPrompt out;
  TROIKA_ASSIGN_OR_RETURN(out.prefix, model.tokenize(text.substr(0, at), true, true));
  out.suffix = text.substr(at + marker.size());
  return out;
}

Result<schedule::ScoreResult> score(schedule::Scheduler& sched, schedule::ScoreRequest request,
                                    Usage& usage) {
  // A score request may fork at most n_seq_max sequences; larger ones go in groups, the shared
  // prefix served from the prefix cache after the first.
  const size_t group = static_cast<size_t>(std::max(1, sched.options().n_seq_max));
  schedule::ScoreResult all;
  const size_t n = request.continuations.size();
  std::vector<schedule::Handle<schedule::ScoreResult>> handles;
  for (size_t i = 0; i < n; i += group) {
    schedule::ScoreRequest part;
    part.prefix = request.prefix;
    part.next_tokens = request.next_tokens;
    part.token_logprobs = request.token_logprobs;
    part.deadline = request.deadline ? request.deadline : ScopedControl::current().deadline;
    part.priority = request.priority;
    for (size_t k = i; k < std::min(n, i + group); ++k) {
      usage.prompt_tokens += static_cast<int32_t>(request.continuations[k].size());
      part.continuations.push_back(std::move(request.continuations[k]));
    }
    handles.push_back(sched.score(std::move(part)));
  }
  for (auto& h : handles) {
    TROIKA_ASSIGN_OR_RETURN(schedule::ScoreResult r, h.get(ScopedControl::current().cancel.get()));
    usage.calls += 1;
    usage.cached_tokens += r.n_prefix_cached;
    usage.prompt_tokens += static_cast<int32_t>(request.prefix.size());
    for (auto& s : r.scores) all.scores.push_back(std::move(s));
    all.n_prefix_cached += r.n_prefix_cached;
  }
  return all;
}

engine::Token end_of_turn(const engine::Model& model) {
  const auto& sp = model.info().special;
  return sp.eot >= 0 ? sp.eot : sp.eos;
}

engine::Token last_token(const engine::Model& model, std::string_view text) {
  auto ids = model.tokenize(text, false, false);
  if (!ids.ok() || ids->empty()) return -1;
  return ids->back();
}

std::vector<double> softmax(const std::vector<double>& x) {
  if (x.empty()) return {};
  const double mx = *std::max_element(x.begin(), x.end());
  std::vector<double> p(x.size());
  double z = 0;
  for (size_t i = 0; i < x.size(); ++i) z += p[i] = std::exp(x[i] - mx);
  for (double& v : p) v /= z;
  return p;
}

std::string squash_spaces(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

}  // namespace troika::pipeline::detail
