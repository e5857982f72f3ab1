// The rag pipeline: retrieve from a knowledge base, pack numbered sources into the role's
// context budget, generate {answer, citations:[{source, quote}]} under a schema whose source ids
// are only those provided, then check every citation: its quote must appear verbatim (up to
// whitespace) in the cited chunk, and with a judge role, the judge's yes/no log-probability says
// whether the quote supports the answer. Unsupported citations are flagged, never dropped;
// "The sources do not say." is an allowed answer (answered = false).
//
// Errors: invalid_argument (an empty question, bad options, a mode the store cannot serve),
// bad_output (no schema-valid answer within the attempts), and the role's and store's errors.
// Thread safety: reentrant (a Store runs its calls one at a time).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "troika/pipeline.h"
#include "troika/retrieval.h"

namespace troika::pipeline {

struct RagRequest {
  std::string question;
  int32_t k = 6;              // chunks retrieved (the sources, as many as fit the budget)
  std::string mode;           // "bm25", "dense", "hybrid"; "" = hybrid with vectors, else bm25
  int32_t source_tokens = 0;  // budget for the sources; 0 = half the role's context (local) or 2048
  bool judge = false;         // ask the judge role whether each quote supports the answer
  Sampling sampling;
};

struct Citation {
  int32_t source = 0;  // the number the sources were given (1-based)
  std::string quote;
  bool verbatim = false;   // the quote is in the cited chunk
  double support = -1;     // the judge's p(yes), -1 when not judged
  bool supported = false;  // verbatim, and (when judged) support >= 0.5
  std::string problem;     // why not supported ("" when it is)
};

struct RagSource {
  int32_t id = 0;  // 1-based, as the model saw it
  retrieval::Hit hit;
};

struct RagResult {
  std::string answer;
  bool answered = true;  // false: "The sources do not say."
  std::vector<Citation> citations;
  std::vector<RagSource> sources;
  int32_t unsupported = 0;  // citations not supported
  Usage usage;              // the generation and the judge's scoring
};

// The answer a model gives when the sources hold none.
inline constexpr std::string_view kSourcesDoNotSay = "The sources do not say.";

Result<RagResult> rag(host::RoleClient& role, const retrieval::Store& store,
                      const RagRequest& request, host::RoleClient* judge = nullptr);

// The JSON shape (docs/pipelines/rag.md): request {"question", "k", "mode", "source_tokens",
// "judge", "max_tokens", "temperature", "top_p", "seed", "reproducible"}; response {"answer",
// "answered", "citations", "unsupported", "sources", "usage"}. `judge` may be null when the
// request does not ask for judging (invalid_argument when it does).
Result<std::string> run_rag(host::RoleClient& role, const retrieval::Store& store,
                            std::string_view request_json, host::RoleClient* judge = nullptr,
                            const Control& control = {});

}  // namespace troika::pipeline
