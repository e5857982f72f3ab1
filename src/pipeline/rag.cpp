// The rag pipeline: retrieve, pack numbered sources, answer under a schema, check the citations.
#include "troika/rag.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "pipeline/common.h"
#include "troika/schedule.h"

namespace troika::pipeline {

namespace {

using Json = nlohmann::json;

constexpr int32_t kMaxQuote = 300;

// The text a quote is compared in: whitespace runs as one space, typographic quotes and dashes
// as ASCII, so that a quote copied across a line break still matches.
std::string comparable(std::string_view s) {
  std::string t;
  t.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    // U+2018/2019/201C/201D (E2 80 98/99/9C/9D) and U+2013/2014 (E2 80 93/94).
    if (c == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80) {
      const auto d = static_cast<unsigned char>(s[i + 2]);
      if (d == 0x98 || d == 0x99 || d == 0x9C || d == 0x9D || d == 0x93 || d == 0x94) {
        t += d == 0x98 || d == 0x99 ? '\'' : d == 0x9C || d == 0x9D ? '"' : '-';
        i += 2;
        continue;
      }
    }
    t += static_cast<char>(c);
  }
  return detail::squash_spaces(t);
}

// A quote as the model wrote it, without the quotation marks it may have wrapped it in.
std::string unwrap(std::string q) {
  q = comparable(q);
  auto strip = [&](std::string_view open, std::string_view close) {
    if (q.size() >= open.size() + close.size() && q.rfind(open, 0) == 0 &&
        q.compare(q.size() - close.size(), close.size(), close) == 0) {
      q = q.substr(open.size(), q.size() - open.size() - close.size());
    }
  };
  strip("\"", "\"");
  strip("'", "'");
  strip("\xC2\xAB", "\xC2\xBB");  // «»
  return detail::squash_spaces(q);
}

std::string answer_schema(size_t n_sources) {
  Json ids = Json::array();
  for (size_t i = 1; i <= n_sources; ++i) ids.push_back(i);
  Json citation = {{"type", "object"},
                   {"properties",
                    {{"source", {{"enum", ids}}},
                     {"quote", {{"type", "string"}, {"minLength", 1}, {"maxLength", kMaxQuote}}}}},
                   {"required", {"source", "quote"}},
                   {"additionalProperties", false}};
  Json s = {{"type", "object"},
            {"properties",
             {{"answer", {{"type", "string"}, {"minLength", 1}, {"maxLength", 2000}}},
              {"citations", {{"type", "array"}, {"maxItems", 8}, {"items", citation}}}}},
            {"required", {"answer", "citations"}},
            {"additionalProperties", false}};
  if (n_sources == 0) s["properties"]["citations"]["maxItems"] = 0;
  return s.dump();
}

// Tokens of a text on a local role's model; about four bytes a token otherwise.
int32_t tokens_of(host::RoleClient& role, const std::string& text) {
  if (auto* s = role.scheduler()) {
    auto t = s->model().tokenize(text, false, false);
    if (t.ok()) return static_cast<int32_t>(t->size());
  }
  return static_cast<int32_t>(text.size() / 4 + 1);
}

}  // namespace

Result<RagResult> rag(host::RoleClient& role, const retrieval::Store& store, const RagRequest& r,
                      host::RoleClient* judge) {
  const auto t0 = detail::Clock::now();
  if (detail::squash_spaces(r.question).empty()) return invalid_argument("question: empty");
  if (r.k < 1 || r.k > 50) return invalid_argument("k: from 1 to 50");
  if (r.source_tokens < 0) return invalid_argument("source_tokens: not negative");
  if (r.judge && !judge) {
    return invalid_argument("judge: needs the tool role, which is not configured");
  }
  RagResult out;
  out.usage = detail::start_usage(role);
  // Retrieve.
  retrieval::SearchOptions so;
  so.k = r.k;
  so.mode = r.mode;
  if (so.mode.empty()) {
    TROIKA_ASSIGN_OR_RETURN(auto st, store.stats());
    so.mode = st.indexed_vectors > 0 ? "hybrid" : "bm25";
  }
  TROIKA_ASSIGN_OR_RETURN(auto hits, store.search(r.question, so));
  // Pack as many as fit the budget, best first.
  int32_t budget = r.source_tokens;
  if (budget == 0) {
    budget = 2048;
    if (auto* s = role.scheduler()) budget = std::clamp(s->options().n_ctx / 4, 256, 4096);
  }
  std::string sources;
  int32_t used = 0;
  for (auto& h : hits) {
    const std::string block = "[" + std::to_string(out.sources.size() + 1) + "] " +
                              (h.title.empty() ? h.source : h.title) + "\n" + h.text + "\n\n";
    const int32_t t = tokens_of(role, block);
    if (used + t > budget && !out.sources.empty()) break;
    used += t;
    sources += block;
    out.sources.push_back({static_cast<int32_t>(out.sources.size() + 1), std::move(h)});
  }
  // Generate under the schema.
  JsonRequest jr;
  jr.input.system =
      "Answer the question using only the numbered sources. Support each claim with a citation: "
      "the source's number and a short quote copied word for word from that source. If the "
      "sources do not contain the answer, the answer is exactly \"" +
      std::string(kSourcesDoNotSay) + "\" with no citations.";
  jr.input.prompt =
      (out.sources.empty() ? std::string("Sources: none.\n\n") : "Sources:\n\n" + sources) +
      "Question: " + r.question;
  jr.schema = answer_schema(out.sources.size());
  jr.sampling = r.sampling;
  TROIKA_ASSIGN_OR_RETURN(auto gen, pipeline::json(role, jr));
  out.usage = gen.usage;
  const Json a = Json::parse(gen.json);
  out.answer = a["answer"].get<std::string>();
  out.answered = comparable(out.answer) != kSourcesDoNotSay;
  // Check every citation against the chunk it names.
  for (const auto& c : a["citations"]) {
    Citation cit;
    cit.source = c["source"].get<int32_t>();
    cit.quote = c["quote"].get<std::string>();
    const std::string q = unwrap(cit.quote);
    const auto& cited = out.sources.at(static_cast<size_t>(cit.source - 1)).hit.text;
    cit.verbatim = !q.empty() && comparable(cited).find(q) != std::string::npos;
    if (!cit.verbatim) {
      cit.problem = "the quote is not in source " + std::to_string(cit.source);
      for (const auto& s : out.sources) {
        if (s.id != cit.source && !q.empty() &&
            comparable(s.hit.text).find(q) != std::string::npos) {
          cit.problem = "the quote is from source " + std::to_string(s.id) + ", not " +
                        std::to_string(cit.source);
          break;
        }
      }
    }
    out.citations.push_back(std::move(cit));
  }
  if (r.judge && !out.citations.empty()) {
    RerankRequest rr;
    rr.query = out.answer;
    rr.instruction =
        "The query is a statement. Judge whether the document, a quote from a source, supports "
        "the statement: relevant means it states what the statement claims.";
    for (const auto& c : out.citations) rr.documents.push_back(c.quote);
    TROIKA_ASSIGN_OR_RETURN(auto judged, rerank(*judge, rr));
    for (const auto& h : judged.results) {
      out.citations[static_cast<size_t>(h.index)].support = h.score;
    }
    out.usage.calls += judged.usage.calls;
    out.usage.prompt_tokens += judged.usage.prompt_tokens;
    out.usage.cached_tokens += judged.usage.cached_tokens;
    out.usage.completion_tokens += judged.usage.completion_tokens;
    for (const auto& n : judged.usage.notes) out.usage.notes.push_back("judge: " + n);
  }
  for (auto& c : out.citations) {
    c.supported = c.verbatim && (c.support < 0 || c.support >= 0.5);
    if (c.verbatim && !c.supported) c.problem = "the judge finds the quote does not support it";
    out.unsupported += c.supported ? 0 : 1;
  }
  if (out.answered && out.citations.empty()) {
    out.usage.notes.push_back("the answer cites no source");
  }
  out.usage.ms = detail::ms_since(t0);
  return out;
}

}  // namespace troika::pipeline
