// Private to src/schedule: runs reproducible requests one at a time in a dedicated context, so
// that their numerics never depend on what else is batched (see Request::reproducible).
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "schedule/job.h"

namespace troika::schedule {

class SoloRunner {
 public:
  SoloRunner(std::shared_ptr<const engine::Model> model, const SchedulerOptions& options);
  ~SoloRunner();  // fails queued requests with cancelled, joins the thread
  void submit(std::shared_ptr<Job> job);

 private:
  void loop();
  void run(Job& job);
  Status run_sample(Job& job, SampleState& s, std::span<const float> first_row);

  std::shared_ptr<const engine::Model> model_;
  SchedulerOptions opts_;
  std::unique_ptr<engine::Context> ctx_;  // created on first use
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace troika::schedule
