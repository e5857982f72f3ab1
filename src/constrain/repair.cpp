// repair_json: the document level of JSON repair. Finds where the value is (code fences, prose
// around it, several candidates), runs the tolerant parser of repair_parse.cpp on it, and
// serialises the result. The parser itself knows nothing about prose or fences.
#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "repair_parse.h"
#include "troika/constrain.h"
#include "troika/status.h"

namespace troika::constrain {
namespace {

using repair_internal::Json;
using repair_internal::Parser;

// Each candidate start costs one linear parse, so prose with many brackets stays linear-ish.
constexpr int kMaxCandidates = 32;
// Only the first few fenced blocks are tried; LLM answers rarely hold more.
constexpr int kMaxFences = 8;

struct Attempt {
  bool ok = false;
  bool fatal = false;   // an error no other start can avoid (nesting too deep)
  size_t consumed = 0;  // bytes the value and its trailing separators covered
  size_t stop = 0;      // where parsing stopped (on failure, the offset that failed)
  Json value;
  std::vector<std::string> fixes;
  std::string error;
};

Attempt attempt_at(std::string_view text, size_t begin, size_t end) {
  Parser p(text, end);
  Attempt a;
  a.ok = p.parse_document(begin, a.value);
  a.fatal = p.fatal();
  a.consumed = p.value_end() - begin;
  a.stop = p.stopped_at();
  a.fixes = p.take_fixes();
  a.error = p.error();
  return a;
}

// Repairs the value in text[begin, end): from the first significant character if a value
// starts there, else from the first '{' or '[' that parses, looking only past the point where
// the previous try failed. Of several candidates that parse, the one covering the most text
// wins (so "see [1]: {...}" yields the object); ties go to the earlier one.
Attempt repair_window(std::string_view text, size_t begin, size_t end) {
  Parser probe(text, end);
  const size_t start = probe.skip_prefix(begin);
  // From `begin`, not `start`, so that comments before the value are reported as fixes.
  Attempt first = attempt_at(text, begin, end);
  if (first.ok || first.fatal) return first;
  Attempt best;
  int n_tried = 0;
  for (size_t i = std::max(start + 1, first.stop); i < end && n_tried < kMaxCandidates; ++i) {
    if (text[i] != '{' && text[i] != '[') continue;
    ++n_tried;
    Attempt a = attempt_at(text, i, end);
    if (a.fatal) return a;
    if (!a.ok) {
      // The brackets this attempt read through sit inside a broken value: trying them would
      // only return a fragment of it, and would make the search quadratic.
      i = std::max(i, a.stop - 1);
      continue;
    }
    const size_t consumed = a.consumed;
    if (!best.ok || a.consumed > best.consumed) {
      a.fixes.insert(a.fixes.begin(), "removed text before the JSON (offsets " +
                                          std::to_string(start) + " to " + std::to_string(i) + ")");
      best = std::move(a);
    }
    // Candidates inside this value would only find its parts again.
    i += consumed > 0 ? consumed - 1 : 0;
  }
  if (best.ok) return best;
  first.error = "no JSON value found: " + first.error;
  return first;
}

struct Fence {
  size_t open;                        // where the opening ``` is
  size_t content_begin, content_end;  // what the block holds
  size_t after;                       // just past the closing fence (or the text's end)
  bool json;                          // labelled json, jsonc, json5, jsonl or ndjson
};

// The fenced blocks ("```json\n...```"), the first of them opening at `first`. The closing
// fence of the last one may be missing when the answer was truncated.
std::vector<Fence> find_fences(std::string_view text, size_t first) {
  std::vector<Fence> fences;
  size_t at = first;
  while (at != std::string_view::npos && fences.size() < kMaxFences) {
    size_t p = at + 3;
    // The info string ("json") runs up to the newline or the first non-word character, so a
    // one-line block ("```json {...}```") works too.
    while (p < text.size() && (std::isalnum(static_cast<unsigned char>(text[p])) ||
                               text[p] == '_' || text[p] == '-' || text[p] == '+')) {
      ++p;
    }
    const std::string_view info = text.substr(at + 3, p - at - 3);
    const bool json = info.starts_with("json") || info == "ndjson";
    const size_t close = text.find("```", p);
    if (close == std::string_view::npos) {
      fences.push_back({at, p, text.size(), text.size(), json});
      break;
    }
    fences.push_back({at, p, close, close + 3, json});
    at = text.find("```", close + 3);
  }
  return fences;
}

bool has_text(std::string_view s) {
  for (char c : s) {
    if (!std::isspace(static_cast<unsigned char>(c))) return true;
  }
  return false;
}

// Tries the fenced blocks when a fence opens before any bracket: those labelled as JSON
// first, then the others in order (a ```python block may well parse: print(1) is a call).
Attempt repair_fenced(std::string_view text) {
  const size_t first = text.find("```");
  const size_t bracket = text.find_first_of("{[");
  if (first == std::string_view::npos || (bracket != std::string_view::npos && bracket < first)) {
    return {};
  }
  const std::vector<Fence> fences = find_fences(text, first);
  for (const bool want_json : {true, false}) {
    for (const Fence& f : fences) {
      if (f.json != want_json) continue;
      Attempt a = repair_window(text, f.content_begin, f.content_end);
      if (a.fatal) return a;
      if (!a.ok) continue;
      std::vector<std::string> pre = {"removed a markdown code fence"};
      // Text before the fence, or the blocks (and text) before the one taken.
      if (has_text(text.substr(0, f.open))) {
        pre.emplace_back("removed text before the code fence");
      }
      if (has_text(text.substr(f.after))) pre.emplace_back("removed text after the code fence");
      a.fixes.insert(a.fixes.begin(), pre.begin(), pre.end());
      return a;
    }
  }
  return {};
}

}  // namespace

Result<RepairResult> repair_json(std::string_view text) {
  if (!has_text(text)) {
    return invalid_argument("no JSON value found: the text is empty; expected a JSON object, " +
                            std::string("array, string, number, true, false or null"));
  }
  RepairResult out;
  Attempt a;
  // Valid JSON goes through the same parser (it keeps key order, which nlohmann::json would
  // not) but is reported without fixes, whatever cosmetic things the parser noticed (a BOM).
  const bool valid = Json::accept(text);
  if (valid) {
    Parser p(text, text.size());
    a.ok = p.parse_document(p.skip_prefix(0), a.value);
    a.error = p.error();
  } else {
    a = repair_fenced(text);
    if (!a.ok && !a.fatal) a = repair_window(text, 0, text.size());
  }
  if (!a.ok) return invalid_argument(a.error);
  if (!valid) out.fixes = std::move(a.fixes);
  try {
    out.json = a.value.dump();
  } catch (const nlohmann::json::exception&) {
    // The parser replaces bytes that are not UTF-8 as it copies them; this is a safety net.
    out.json = a.value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out.fixes.push_back("replaced bytes that are not valid UTF-8 with U+FFFD");
  }
  return out;
}

}  // namespace troika::constrain
