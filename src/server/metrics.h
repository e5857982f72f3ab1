// Prometheus metrics of the API: requests by endpoint and status, latency histograms, tokens
// generated, and a gauge of recent decode speed per model.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>

namespace troika::server::detail {

class Metrics {
 public:
  static constexpr std::array<double, 12> kBuckets = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                      1,    2.5,   5,    10,  30,   120};
  void request(const std::string& endpoint, int status, double seconds);
  void tokens(const std::string& model, int64_t prompt, int64_t completion);
  // Appends this registry's families to `out` in Prometheus text format.
  void write(std::string& out);

 private:
  struct Histogram {
    std::array<int64_t, kBuckets.size()> counts{};
    int64_t count = 0;
    double sum = 0;
  };
  struct Tokens {
    int64_t prompt = 0, completion = 0;
    std::deque<std::pair<std::chrono::steady_clock::time_point, int64_t>> recent;  // last 10 s
  };
  std::mutex mu_;
  std::map<std::pair<std::string, int>, int64_t> requests_;  // (endpoint, status) -> count
  std::map<std::string, Histogram> latency_;
  std::map<std::string, Tokens> tokens_;
};

}  // namespace troika::server::detail
