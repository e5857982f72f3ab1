// The vote pipeline (self-consistency): N forked samples, answers extracted and normalised,
// the majority with its agreement share.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "base/ascii.h"
#include "pipeline/common.h"
#include "troika/constrain.h"

namespace troika::pipeline {

namespace {

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// A number written plainly: "1,000.50" -> "1000.5", "+3" -> "3", "2.0" -> "2"; unchanged when the
// text is not one number.
std::string canonical_number(const std::string& s) {
  static const std::regex kNumber(R"(^[-+]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?([eE][-+]?\d+)?$)");
  if (!std::regex_match(s, kNumber)) return s;
  std::string plain;
  for (char c : s)
    if (c != ',') plain += c;
  const double v = std::strtod(plain.c_str(), nullptr);
  if (!std::isfinite(v)) return s;
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.15g", v == 0 ? 0.0 : v);
  return buf;
}

Result<std::string> extract(const Extract& x, const std::string& text) {
  if (x.kind == "text") return text;
  if (x.kind == "final_line") {
    std::string last;
    size_t start = 0;
    while (start <= text.size()) {
      size_t nl = text.find('\n', start);
      if (nl == std::string::npos) nl = text.size();
      std::string line = trim(std::string_view(text).substr(start, nl - start));
      if (!line.empty()) last = line;
      start = nl + 1;
    }
    return last;
  }
  if (x.kind == "last_number") {
    static const std::regex kNum(R"([-+]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?)");
    std::string last;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), kNum);
         it != std::sregex_iterator(); ++it)
      last = it->str();
    return last;
  }
  if (x.kind == "regex") {
    std::regex re;
    try {
      re = std::regex(x.pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return invalid_argument("extract.pattern: not a regular expression (" +
                              std::string(e.what()) + ")");
    }
    std::string last;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
         ++it)
      last = it->size() > 1 && (*it)[1].matched ? (*it)[1].str() : it->str();
    return last;
  }
  if (x.kind == "json_field") {
    auto fixed = constrain::repair_json(text);
    if (!fixed.ok()) return std::string();
    nlohmann::json v = nlohmann::json::parse(fixed->json, nullptr, false);
    const nlohmann::json* at = nullptr;
    if (x.field.starts_with("/")) {
      try {
        at = &v.at(nlohmann::json::json_pointer(x.field));
      } catch (const std::exception&) {
      }
    } else if (v.is_object() && v.contains(x.field)) {
      at = &v[x.field];
    }
    if (!at || at->is_null()) return std::string();
    return at->is_string() ? at->get<std::string>() : at->dump();
  }
  return invalid_argument("extract.kind: '" + x.kind +
                          "' is not last_number, final_line, json_field, regex or text");
}

std::string normalise(const Normalise& n, std::string s) {
  // An answer written as a JSON string (a sample under a schema like {"enum": [...]}) is its value.
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') {
    nlohmann::json v = nlohmann::json::parse(s, nullptr, false);
    if (v.is_string()) s = v.get<std::string>();
  }
  if (n.whitespace) s = detail::squash_spaces(s);
  if (n.numbers) {
    std::string stripped = s;
    while (!stripped.empty() && (stripped.back() == '.' || stripped.back() == '!')) {
      stripped.pop_back();  // "42." at the end of a sentence
    }
    const std::string c = canonical_number(stripped);
    if (c != stripped) s = c;
  }
  if (n.lowercase) s = ascii_lower(s);
  return s;
}

// n requests of one sample each (seeds seed + i), in flight at once.
Result<host::ChatResult> sample_one_by_one(host::RoleClient& role, host::ChatRequest req,
                                           Usage& usage) {
  const int32_t n = req.n;
  req.n = 1;
  std::vector<std::future<Result<host::ChatResult>>> runs;
  for (int32_t i = 0; i < n; ++i) {
    host::ChatRequest one = req;
    one.seed = req.seed + static_cast<uint32_t>(i);
    runs.push_back(std::async(std::launch::async, [&role, one] { return role.chat(one); }));
  }
  host::ChatResult all;
  for (auto& f : runs) {
    Result<host::ChatResult> r = f.get();
    if (!r.ok()) return r.status();
    usage.calls += 1;
    usage.prompt_tokens += r->prompt_tokens;
    usage.completion_tokens += r->completion_tokens;
    for (auto& c : r->choices) all.choices.push_back(std::move(c));
  }
  return all;
}

}  // namespace

Result<VoteResult> vote(host::RoleClient& role, const VoteRequest& request) {
  const auto t0 = detail::Clock::now();
  if (request.n < 1 || request.n > 256) return invalid_argument("n: must be 1 to 256");
  if (request.extract.kind == "json_field" && request.extract.field.empty()) {
    return invalid_argument("extract.field: json_field needs a field name or JSON pointer");
  }
  TROIKA_RETURN_IF_ERROR(extract(request.extract, "").status());  // the kind and the pattern
  TROIKA_ASSIGN_OR_RETURN(auto messages, detail::messages_of(request.input));
  VoteResult out;
  out.usage = detail::start_usage(role);
  host::ChatRequest req = detail::chat_request(std::move(messages), request.sampling);
  req.n = request.n;
  req.logprobs = true;
  req.json_schema = request.schema;
  Result<host::ChatResult> first = detail::chat(role, req, out.usage);
  if (!first.ok() && role.is_remote() && request.n > 1 &&
      first.status().code() == Code::kInvalidArgument) {
    // Some endpoints cap n (llama-server: at its slot count): one request per sample instead.
    out.usage.notes.push_back("the endpoint refused n = " + std::to_string(request.n) + " (" +
                              first.status().message() + "); sampled one request at a time");
    first = sample_one_by_one(role, req, out.usage);
  }
  if (!first.ok()) return first.status();
  host::ChatResult res = std::move(*first);

  struct Bucket {
    int32_t count = 0, with_logprob = 0;
    double logprob_sum = 0;
    size_t first = 0;
  };
  std::map<std::string, Bucket> buckets;
  bool any_logprob = false;
  for (size_t i = 0; i < res.choices.size(); ++i) {
    const auto& c = res.choices[i];
    VoteSample s;
    s.text = c.text;
    TROIKA_ASSIGN_OR_RETURN(std::string raw, extract(request.extract, c.text));
    s.answer = normalise(request.normalise, raw);
    s.has_logprob = c.has_logprob && c.n_tokens > 0;
    if (s.has_logprob) s.mean_logprob = c.logprob / c.n_tokens;
    any_logprob |= s.has_logprob;
    if (!s.answer.empty()) {
      auto [it, fresh] = buckets.try_emplace(s.answer);
      if (fresh) it->second.first = i;
      it->second.count += 1;
      if (s.has_logprob) {
        it->second.with_logprob += 1;
        it->second.logprob_sum += s.mean_logprob;
      }
      out.n_answered += 1;
    }
    if (request.return_samples) out.samples.push_back(std::move(s));
  }
  std::vector<std::pair<std::string, Bucket>> order(buckets.begin(), buckets.end());
  auto mean = [](const Bucket& b) {
    return b.with_logprob ? b.logprob_sum / b.with_logprob : -INFINITY;
  };
  std::sort(order.begin(), order.end(), [&](const auto& a, const auto& b) {
    if (a.second.count != b.second.count) return a.second.count > b.second.count;
    if (mean(a.second) != mean(b.second)) return mean(a.second) > mean(b.second);
    return a.second.first < b.second.first;
  });
  for (const auto& [answer, b] : order) {
    out.tally.push_back({answer, b.count, b.with_logprob ? mean(b) : 0.0});
  }
  if (!order.empty()) {
    out.answer = order[0].first;
    out.confidence = static_cast<double>(order[0].second.count) / request.n;
  }
  if (static_cast<int32_t>(res.choices.size()) != request.n) {
    out.usage.notes.push_back("the role returned " + std::to_string(res.choices.size()) + " of " +
                              std::to_string(request.n) + " samples");
  }
  if (!any_logprob && role.is_remote()) {
    out.usage.notes.push_back(
        "remote role returned no log-probabilities: ties go to the answer seen first");
  }
  out.usage.ms = detail::ms_since(t0);
  return out;
}

}  // namespace troika::pipeline
