// Private to src/schedule: a submitted request as the step loop tracks it.
#pragma once

#include <chrono>
#include <future>
#include <memory>
#include <vector>

#include "schedule/sample_state.h"
#include "troika/schedule.h"

namespace troika::schedule {

using Clock = std::chrono::steady_clock;

inline double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct Continuation {
  int32_t seq = -1;
  std::vector<Token> tokens;
  int32_t n_fed = 0;          // tokens decoded (all but the last need decoding)
  std::vector<int32_t> rows;  // batch rows of this step's fed tokens
  Score score;
};

struct Job {
  enum class Kind { kGenerate, kScore } kind = Kind::kGenerate;
  uint64_t order = 0;         // arrival number
  Request req;                // kGenerate
  ScoreRequest sreq;          // kScore
  std::vector<Token> prompt;  // the prompt (generate) or the prefix (score)
  std::promise<Result<Completion>> gen_promise;
  std::promise<Result<ScoreResult>> score_promise;
  std::shared_ptr<std::atomic<bool>> cancel;
  int32_t priority = 0;
  std::optional<Clock::time_point> deadline;
  Clock::time_point t_submit, t_admit, t_first, t_last;

  int32_t cells = 0;   // KV cells reserved for the worst case
  int32_t n_seqs = 0;  // sequence ids needed
  int32_t prompt_seq = -1;
  int32_t n_done = 0;       // prompt tokens already in the KV cache
  int32_t n_cached = 0;     // of which served from the prefix cache
  int32_t prompt_row = -1;  // batch row of the last prompt token when this step completes it
  bool forked = false;
  bool ended = false;  // no longer runs: its cells are released and its result is (being) set
  std::vector<int32_t> seqs;  // every sequence id the job holds

  std::vector<SampleState> samples;  // kGenerate, after the prompt
  std::vector<Continuation> conts;   // kScore, after the prefix

  bool prompt_pending() const { return n_done < static_cast<int32_t>(prompt.size()); }
  void fail(const Status& st) {
    ended = true;
    if (kind == Kind::kGenerate) {
      gen_promise.set_value(st);
    } else {
      score_promise.set_value(st);
    }
  }
};

}  // namespace troika::schedule
