#include "server/metrics.h"

#include <cstdio>

namespace troika::server::detail {

namespace {
using Clock = std::chrono::steady_clock;
constexpr auto kWindow = std::chrono::seconds(10);

void prune(std::deque<std::pair<Clock::time_point, int64_t>>& d, Clock::time_point now) {
  while (!d.empty() && now - d.front().first > kWindow) d.pop_front();
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}
}  // namespace

void Metrics::request(const std::string& endpoint, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  requests_[{endpoint, status}] += 1;
  Histogram& h = latency_[endpoint];
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) h.counts[i] += 1;
  }
  h.count += 1;
  h.sum += seconds;
}

void Metrics::tokens(const std::string& model, int64_t prompt, int64_t completion) {
  std::lock_guard<std::mutex> lock(mu_);
  Tokens& t = tokens_[model];
  t.prompt += prompt;
  t.completion += completion;
  const auto now = Clock::now();
  t.recent.emplace_back(now, completion);
  prune(t.recent, now);
}

void Metrics::write(std::string& out) {
  std::lock_guard<std::mutex> lock(mu_);
  out += "# HELP troika_requests_total Requests answered, by endpoint and HTTP status.\n";
  out += "# TYPE troika_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    out += "troika_requests_total{endpoint=\"" + key.first + "\",status=\"" +
           std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
  }
  out += "# HELP troika_request_duration_seconds Time from admission to the last byte.\n";
  out += "# TYPE troika_request_duration_seconds histogram\n";
  for (const auto& [endpoint, h] : latency_) {
    const std::string l =
        "troika_request_duration_seconds_bucket{endpoint=\"" + endpoint + "\",le=\"";
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      out += l + num(kBuckets[i]) + "\"} " + std::to_string(h.counts[i]) + "\n";
    }
    out += l + "+Inf\"} " + std::to_string(h.count) + "\n";
    out +=
        "troika_request_duration_seconds_sum{endpoint=\"" + endpoint + "\"} " + num(h.sum) + "\n";
    out += "troika_request_duration_seconds_count{endpoint=\"" + endpoint + "\"} " +
           std::to_string(h.count) + "\n";
  }
  out += "# HELP troika_prompt_tokens_total Prompt tokens of answered requests, by model.\n";
  out += "# TYPE troika_prompt_tokens_total counter\n";
  for (const auto& [model, t] : tokens_) {
    out += "troika_prompt_tokens_total{model=\"" + model + "\"} " + std::to_string(t.prompt) + "\n";
  }
  out += "# HELP troika_completion_tokens_total Generated tokens of answered requests, by model.\n";
  out += "# TYPE troika_completion_tokens_total counter\n";
  for (const auto& [model, t] : tokens_) {
    out += "troika_completion_tokens_total{model=\"" + model + "\"} " +
           std::to_string(t.completion) + "\n";
  }
  out += "# HELP troika_tokens_per_second Generated tokens per second over the last 10 s.\n";
  out += "# TYPE troika_tokens_per_second gauge\n";
  const auto now = Clock::now();
  for (auto& [model, t] : tokens_) {
    prune(t.recent, now);
    int64_t sum = 0;
    for (const auto& [at, n] : t.recent) sum += n;
    out += "troika_tokens_per_second{model=\"" + model + "\"} " +
           num(static_cast<double>(sum) / static_cast<double>(kWindow.count())) + "\n";
  }
}

}  // namespace troika::server::detail
