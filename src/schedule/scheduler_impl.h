// Private to src/schedule: the scheduler's state. scheduler_api.cpp holds the thread-safe entry
// points (create, submit, score); scheduler.cpp the step loop, which alone touches the
// "owned by the step thread" members.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "schedule/job.h"
#include "schedule/prefix_cache.h"
#include "schedule/solo.h"

namespace troika::schedule {

struct Scheduler::Impl {
  std::shared_ptr<const engine::Model> model;
  SchedulerOptions opts;
  std::unique_ptr<engine::Context> ctx;
  int32_t n_ctx = 0;

  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::shared_ptr<Job>> incoming;  // guarded by mu
  bool stopping = false;                      // guarded by mu
  SchedulerStats stats;                       // guarded by mu
  uint64_t next_order = 0;                    // guarded by mu

  // Owned by the step thread.
  std::vector<std::shared_ptr<Job>> waiting;
  bool waiting_dirty = false;  // new arrivals since the last sort
  std::vector<std::shared_ptr<Job>> running;
  std::vector<int32_t> free_seqs;
  PrefixCache cache;
  int32_t cells_reserved = 0;
  engine::Batch batch;

  std::unique_ptr<SoloRunner> solo;
  std::thread thread;

  Status enqueue(std::shared_ptr<Job> job);
  void loop();
  void step();
  void expire();
  void admit();
  bool make_room(int32_t cells, int32_t seqs);
  void start(Job& job);
  bool should_wait_for_leader(const Job& job) const;
  void cache_prompt(Job& job);
  void build_batch();
  void after_decode();
  void fork_generate(Job& job);
  void fork_score(Job& job);
  void finish(Job& job);
  void release(Job& job, bool keep_prompt);
  void abort_job(Job& job, const Status& st);
  void free_seq(int32_t seq);  // drops the sequence's cells and returns its id to the pool
  void publish_gauges();       // REQUIRES: mu held
  bool job_done(const Job& job) const;
};

}  // namespace troika::schedule
