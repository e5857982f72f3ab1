// The classify pipeline: a probability for every label from shared-prefix scoring.
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "pipeline/common.h"
#include "pipeline/yes_no.h"

namespace troika::pipeline {

namespace {

constexpr std::string_view kMarker = "\x1f<troika-item>\x1f";

Status check(const ClassifyRequest& r) {
  if (r.labels.empty()) return invalid_argument("labels: give at least one label");
  if (r.labels.size() < 2 && !r.multi_label) {
    return invalid_argument("labels: give at least two labels (or set multi_label)");
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < r.labels.size(); ++i) {
    const std::string& n = r.labels[i].name;
    if (n.empty()) return invalid_argument("labels[" + std::to_string(i) + "]: empty name");
    if (!seen.insert(n).second) return invalid_argument("labels: '" + n + "' is given twice");
  }
  if (r.normalise != "raw" && r.normalise != "mean") {
    return invalid_argument("normalise: '" + r.normalise + "' is not raw or mean");
  }
  if (!(r.threshold >= 0 && r.threshold <= 1)) {
    return invalid_argument("threshold: must be in [0, 1]");
  }
  return Status::Ok();
}

std::string label_list(const std::vector<Label>& labels) {
  std::string out;
  for (const auto& l : labels) {
    out += "- " + l.name;
    if (!l.description.empty()) out += ": " + l.description;
    out += "\n";
  }
  return out;
}

// The user turn for one text. `item` is appended after the text (multi-label puts its
// per-label question there).
std::string user_turn(const ClassifyRequest& r, std::string_view text, std::string_view item) {
  std::string instruction = r.instruction;
  if (instruction.empty()) {
    instruction = r.multi_label ? "Decide whether a label applies to the text."
                                : "Classify the text into one of these labels.";
  }
  std::string s = instruction + "\n\nLabels:\n" + label_list(r.labels) + "\nText:\n" +
                  std::string(text) + "\n\n";
  s += item.empty() ? "Answer with the label only." : std::string(item);
  return s;
}

// Single-label: log-probabilities of each label (+ end of turn) after the prompt.
Result<std::vector<schedule::Score>> score_labels(schedule::Scheduler& sched,
                                                  const ClassifyRequest& r, std::string_view text,
                                                  Usage& usage) {
  const engine::Model& model = sched.model();
  std::vector<engine::ChatMessage> msgs = {{"user", user_turn(r, text, "")}};
  TROIKA_ASSIGN_OR_RETURN(std::string rendered, model.render_chat(msgs));
  schedule::ScoreRequest req;
  TROIKA_ASSIGN_OR_RETURN(req.prefix, model.tokenize(rendered, true, true));
  const engine::Token eot = detail::end_of_turn(model);
  for (const auto& l : r.labels) {
    TROIKA_ASSIGN_OR_RETURN(auto ids, model.tokenize(l.name, false, false));
    if (eot >= 0) ids.push_back(eot);
    req.continuations.push_back(std::move(ids));
  }
  TROIKA_ASSIGN_OR_RETURN(auto res, detail::score(sched, std::move(req), usage));
  return std::move(res.scores);
}

// Multi-label: p(yes) of "does LABEL apply?" for each label, one shared prefix.
Result<std::vector<double>> judge_labels(schedule::Scheduler& sched, const ClassifyRequest& r,
                                         std::string_view text, Usage& usage) {
  const engine::Model& model = sched.model();
  std::vector<engine::ChatMessage> msgs = {{"user", user_turn(r, text, kMarker)}};
  TROIKA_ASSIGN_OR_RETURN(auto split, detail::split_prompt(model, msgs, kMarker));
  const detail::YesNo yn = detail::yes_no_tokens(model);
  schedule::ScoreRequest req;
  req.prefix = split.prefix;
  req.next_tokens = yn.tokens();
  req.token_logprobs = false;  // only the yes/no after each continuation is read
  for (const auto& l : r.labels) {
    std::string q = "Does the label \"" + l.name + "\" apply to the text? Answer yes or no.";
    TROIKA_ASSIGN_OR_RETURN(auto ids, model.tokenize(q + split.suffix, false, true));
    req.continuations.push_back(std::move(ids));
  }
  TROIKA_ASSIGN_OR_RETURN(auto res, detail::score(sched, std::move(req), usage));
  std::vector<double> p;
  for (const auto& s : res.scores) p.push_back(yn.p_yes(s.next_logprobs));
  return p;
}

Result<ClassifyResult> classify_local(schedule::Scheduler& sched, const ClassifyRequest& r,
                                      ClassifyResult out) {
  out.method = "score";
  const size_t n = r.labels.size();
  out.scores.resize(n);
  for (size_t i = 0; i < n; ++i) out.scores[i].label = r.labels[i].name;
  if (r.multi_label) {
    TROIKA_ASSIGN_OR_RETURN(auto p, judge_labels(sched, r, r.text, out.usage));
    if (r.calibrate) {
      TROIKA_ASSIGN_OR_RETURN(auto cf, judge_labels(sched, r, "N/A", out.usage));
      // Calibrated odds: the label's odds over the odds it gets for a content-free text.
      for (size_t i = 0; i < n; ++i) {
        const double odds = (p[i] / std::max(1e-12, 1 - p[i])) /
                            std::max(1e-12, cf[i] / std::max(1e-12, 1 - cf[i]));
        p[i] = odds / (1 + odds);
      }
    }
    for (size_t i = 0; i < n; ++i) {
      out.scores[i].p = out.scores[i].p_raw = out.scores[i].p_mean = p[i];
      out.scores[i].logprob = out.scores[i].mean_logprob = std::log(std::max(1e-300, p[i]));
      out.scores[i].n_tokens = 1;
    }
  } else {
    TROIKA_ASSIGN_OR_RETURN(auto scores, score_labels(sched, r, r.text, out.usage));
    std::vector<double> raw, mean;
    for (size_t i = 0; i < n; ++i) {
      out.scores[i].logprob = scores[i].logprob;
      out.scores[i].mean_logprob = scores[i].mean_logprob;
      out.scores[i].n_tokens = static_cast<int32_t>(scores[i].token_logprobs.size());
      raw.push_back(scores[i].logprob);
      mean.push_back(scores[i].mean_logprob);
    }
    std::vector<double> p_raw = detail::softmax(raw), p_mean = detail::softmax(mean);
    std::vector<double> chosen = r.normalise == "mean" ? p_mean : p_raw;
    if (r.calibrate) {
      TROIKA_ASSIGN_OR_RETURN(auto cf_scores, score_labels(sched, r, "N/A", out.usage));
      std::vector<double> cf;
      for (const auto& s : cf_scores)
        cf.push_back(r.normalise == "mean" ? s.mean_logprob : s.logprob);
      std::vector<double> p_cf = detail::softmax(cf), logits;
      for (size_t i = 0; i < n; ++i) logits.push_back(std::log(chosen[i]) - std::log(p_cf[i]));
      chosen = detail::softmax(logits);
    }
    for (size_t i = 0; i < n; ++i) {
      out.scores[i].p_raw = p_raw[i];
      out.scores[i].p_mean = p_mean[i];
      out.scores[i].p = chosen[i];
    }
  }
  return out;
}

// Remote: no prompt log-probabilities; the endpoint answers under a label enum.
Result<ClassifyResult> classify_remote(host::RoleClient& role, const ClassifyRequest& r,
                                       ClassifyResult out) {
  out.method = "generate";
  nlohmann::json names = nlohmann::json::array();
  for (const auto& l : r.labels) names.push_back(l.name);
  nlohmann::json schema = {{"enum", names}};
  if (r.multi_label) {
    schema = {{"type", "array"}, {"items", {{"enum", names}}}, {"uniqueItems", true}};
  }
  std::string item = r.multi_label ? "Answer with a JSON array of the labels that apply."
                                   : "Answer with the label as a JSON string.";
  Sampling s;
  s.max_tokens = 64 + 16 * static_cast<int32_t>(r.labels.size());
  host::ChatRequest req = detail::chat_request({{"user", user_turn(r, r.text, item)}}, s);
  req.json_schema = schema.dump();
  TROIKA_ASSIGN_OR_RETURN(auto res, detail::chat(role, req, out.usage));
  nlohmann::json answer =
      nlohmann::json::parse(res.choices.empty() ? "" : res.choices[0].text, nullptr, false);
  std::set<std::string> picked;
  if (answer.is_string()) picked.insert(answer.get<std::string>());
  if (answer.is_array()) {
    for (const auto& a : answer)
      if (a.is_string()) picked.insert(a.get<std::string>());
  }
  out.scores.clear();
  for (const auto& l : r.labels) {
    LabelScore s;
    s.label = l.name;
    s.p = s.p_raw = s.p_mean = picked.count(l.name) ? 1.0 : 0.0;
    out.scores.push_back(s);
  }
  if (picked.empty() || (!r.multi_label && picked.size() != 1)) {
    return bad_output("the remote role did not answer with one of the labels: " +
                      (res.choices.empty() ? std::string("(no answer)") : res.choices[0].text));
  }
  if (!r.multi_label) {
    for (auto& s : out.scores) s.p /= static_cast<double>(picked.size());
  }
  out.usage.notes.push_back(
      "remote role: no prompt log-probabilities; the label is the endpoint's constrained answer "
      "and the probabilities are 0 or 1");
  if (r.calibrate) out.usage.notes.push_back("remote role: calibrate needs scores; skipped");
  return out;
}

}  // namespace

Result<ClassifyResult> classify(host::RoleClient& role, const ClassifyRequest& request) {
  const auto t0 = detail::Clock::now();
  TROIKA_RETURN_IF_ERROR(check(request));
  ClassifyResult out;
  out.usage = detail::start_usage(role);
  Result<ClassifyResult> r = role.scheduler()
                                 ? classify_local(*role.scheduler(), request, std::move(out))
                                 : classify_remote(role, request, std::move(out));
  if (!r.ok()) return r;
  size_t best = 0;
  for (size_t i = 0; i < r->scores.size(); ++i) {
    if (r->scores[i].p > r->scores[best].p) best = i;
    if (request.multi_label && r->scores[i].p >= request.threshold) {
      r->scores[i].selected = true;
      r->labels.push_back(r->scores[i].label);
    }
  }
  r->label = r->scores[best].label;
  if (!request.multi_label) {
    r->scores[best].selected = true;
    r->labels = {r->label};
  }
  r->usage.ms = detail::ms_since(t0);
  return r;
}

}  // namespace troika::pipeline
