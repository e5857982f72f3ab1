// The rerank pipeline: pointwise yes/no relevance after one shared prefix, or listwise.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "pipeline/common.h"
#include "pipeline/yes_no.h"

namespace troika::pipeline {

namespace {

constexpr std::string_view kMarker = "\x1f<troika-document>\x1f";

std::string instruction_of(const RerankRequest& r) {
  return r.instruction.empty()
             ? "Judge whether the document answers the query or contains information relevant "
               "to it."
             : r.instruction;
}

Result<RerankResult> pointwise(schedule::Scheduler& sched, const RerankRequest& r,
                               RerankResult out) {
  out.method = "pointwise";
  const engine::Model& model = sched.model();
  const std::string user = instruction_of(r) + "\n\nQuery: " + r.query +
                           "\n\nDocument: " + std::string(kMarker) +
                           "\n\nIs the document relevant to the query? Answer yes or no.";
  const std::vector<engine::ChatMessage> msgs = {{"user", user}};
  TROIKA_ASSIGN_OR_RETURN(auto split, detail::split_prompt(model, msgs, kMarker));
  TROIKA_ASSIGN_OR_RETURN(auto suffix, model.tokenize(split.suffix, false, true));
  const detail::YesNo yn = detail::yes_no_tokens(model);
  schedule::ScoreRequest req;
  req.prefix = std::move(split.prefix);
  req.next_tokens = yn.tokens();
  req.token_logprobs = false;  // only the yes/no after each continuation is read
  for (const auto& doc : r.documents) {
    TROIKA_ASSIGN_OR_RETURN(auto ids, model.tokenize(doc, false, false));
    if (static_cast<int32_t>(ids.size()) > r.max_document_tokens) ids.resize(r.max_document_tokens);
    ids.insert(ids.end(), suffix.begin(), suffix.end());
    req.continuations.push_back(std::move(ids));
  }
  TROIKA_ASSIGN_OR_RETURN(auto res, detail::score(sched, std::move(req), out.usage));
  for (size_t i = 0; i < res.scores.size(); ++i) {
    auto [y, n] = yn.logprobs(res.scores[i].next_logprobs);
    RerankHit h;
    h.index = static_cast<int32_t>(i);
    h.logit = y - n;
    h.score = yn.p_yes(res.scores[i].next_logprobs);
    out.results.push_back(h);
  }
  return out;
}

Result<RerankResult> listwise(host::RoleClient& role, const RerankRequest& r, RerankResult out) {
  out.method = "listwise";
  const int32_t n = static_cast<int32_t>(r.documents.size());
  std::string user = instruction_of(r) + "\n\nQuery: " + r.query + "\n\nDocuments:\n";
  for (int32_t i = 0; i < n; ++i) {
    std::string doc = r.documents[i];
    // A rough cut at ~4 bytes a token keeps the listing inside the context.
    const size_t max_bytes = static_cast<size_t>(r.max_document_tokens) * 4;
    if (doc.size() > max_bytes) doc.resize(max_bytes);
    user += "[" + std::to_string(i + 1) + "] " + detail::squash_spaces(doc) + "\n";
  }
  user += "\nRank all " + std::to_string(n) +
          " documents from most to least relevant to the query. Answer with a JSON array of "
          "the document numbers.";
  // No uniqueItems: a repeat is dropped below, where under the mask it could corner the
  // decoder once maxItems is reached.
  nlohmann::json schema = {{"type", "array"},
                           {"items", {{"type", "integer"}, {"minimum", 1}, {"maximum", n}}},
                           {"minItems", 1},
                           {"maxItems", n}};
  Sampling s;
  s.max_tokens = 16 + 6 * n;
  host::ChatRequest req = detail::chat_request({{"user", user}}, s);
  req.json_schema = schema.dump();
  TROIKA_ASSIGN_OR_RETURN(auto res, detail::chat(role, req, out.usage));
  nlohmann::json order =
      nlohmann::json::parse(res.choices.empty() ? "" : res.choices[0].text, nullptr, false);
  std::vector<int32_t> ranked;
  std::vector<bool> seen(n, false);
  if (order.is_array()) {
    for (const auto& v : order) {
      if (!v.is_number_integer()) continue;
      const int32_t k = v.get<int32_t>() - 1;
      if (k >= 0 && k < n && !seen[k]) {
        seen[k] = true;
        ranked.push_back(k);
      }
    }
  }
  if (static_cast<int32_t>(ranked.size()) < n) {
    out.usage.notes.push_back("the ranking named " + std::to_string(ranked.size()) + " of " +
                              std::to_string(n) + " documents; the rest follow in input order");
    for (int32_t k = 0; k < n; ++k)
      if (!seen[k]) ranked.push_back(k);
  }
  for (size_t rank = 0; rank < ranked.size(); ++rank) {
    RerankHit h;
    h.index = ranked[rank];
    h.score = 1.0 / static_cast<double>(rank + 1);
    out.results.push_back(h);
  }
  return out;
}

}  // namespace

Result<RerankResult> rerank(host::RoleClient& role, const RerankRequest& request) {
  const auto t0 = detail::Clock::now();
  if (request.query.empty()) return invalid_argument("query: must not be empty");
  if (request.documents.empty()) return invalid_argument("documents: give at least one document");
  if (request.top_k < 0) return invalid_argument("top_k: must be 0 (all) or more");
  if (request.max_document_tokens < 1) return invalid_argument("max_document_tokens: at least 1");
  RerankResult out;
  out.usage = detail::start_usage(role);
  const bool list = request.listwise || !role.scheduler();
  if (list && !request.listwise) {
    out.usage.notes.push_back(
        "remote role: no prompt log-probabilities for pointwise scores; ranked listwise");
  }
  Result<RerankResult> r = list ? listwise(role, request, std::move(out))
                                : pointwise(*role.scheduler(), request, std::move(out));
  if (!r.ok()) return r;
  std::stable_sort(r->results.begin(), r->results.end(),
                   [](const RerankHit& a, const RerankHit& b) { return a.score > b.score; });
  if (request.top_k > 0 && static_cast<size_t>(request.top_k) < r->results.size()) {
    r->results.resize(request.top_k);
  }
  r->usage.ms = detail::ms_since(t0);
  return r;
}

}  // namespace troika::pipeline
