// The step loop: expire, admit, batch, decode, sample, finish (docs/scheduler.md).
#include <algorithm>
#include <cmath>

#include "schedule/scheduler_impl.h"

namespace troika::schedule {

void Scheduler::Impl::loop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu);
      auto idle = [&] { return incoming.empty() && running.empty() && waiting.empty(); };
      if (!stopping && idle()) cv.wait(lock, [&] { return stopping || !idle(); });
      if (stopping) break;
      // Waiting requests with deadlines need the loop to come round even when nothing runs.
      if (running.empty() && incoming.empty() && !waiting.empty()) {
        cv.wait_for(lock, std::chrono::milliseconds(10));
      }
      while (!incoming.empty()) {
        waiting_dirty = true;
        waiting.push_back(std::move(incoming.front()));
        incoming.pop_front();
      }
    }
    step();
  }
  Status st = cancelled("the scheduler shut down before the request finished");
  for (auto& j : running) j->fail(st);
  for (auto& j : waiting) j->fail(st);
  std::lock_guard<std::mutex> lock(mu);
  for (auto& j : incoming) j->fail(st);
  incoming.clear();
}

void Scheduler::Impl::step() {
  const auto t0 = Clock::now();
  expire();
  admit();
  if (running.empty()) return;
  build_batch();
  if (batch.empty()) return;
  const auto t1 = Clock::now();
  Status st = ctx->decode(batch);
  const auto t2 = Clock::now();
  if (!st.ok()) {
    // The cache state of a failed batch is not trusted: every job in it fails.
    for (auto& j : running) abort_job(*j, st);
    running.clear();
    return;
  }
  after_decode();
  const auto t3 = Clock::now();
  std::vector<std::shared_ptr<Job>> still;
  for (auto& j : running) {
    if (j->ended) continue;
    if (job_done(*j)) {
      finish(*j);
    } else {
      still.push_back(j);
    }
  }
  running.swap(still);
  const auto t4 = Clock::now();
  std::lock_guard<std::mutex> lock(mu);
  stats.steps++;
  stats.decode_ms += ms_between(t1, t2);
  stats.sample_ms += ms_between(t2, t3);
  stats.overhead_ms += ms_between(t0, t1) + ms_between(t3, t4);
  publish_gauges();
}

void Scheduler::Impl::publish_gauges() {
  stats.running = static_cast<int32_t>(
      std::count_if(running.begin(), running.end(), [](const auto& j) { return !j->ended; }));
  stats.waiting = static_cast<int32_t>(waiting.size());
  stats.cells_reserved = cells_reserved;
  stats.cells_cached = cache.cells();
}

void Scheduler::Impl::expire() {
  const auto now = Clock::now();
  auto check = [&](Job& j) -> Status {
    if (j.cancel->load()) return cancelled("the request was cancelled");
    if (j.deadline && now >= *j.deadline) {
      return Status(Code::kDeadlineExceeded, "the request's deadline passed after " +
                                                 std::to_string(ms_between(j.t_submit, now)) +
                                                 " ms");
    }
    return Status::Ok();
  };
  for (auto* list : {&waiting, &running}) {
    std::vector<std::shared_ptr<Job>> keep;
    for (auto& j : *list) {
      if (j->ended) continue;  // already released and answered
      Status st = check(*j);
      if (st.ok()) {
        keep.push_back(j);
      } else if (list == &running) {
        abort_job(*j, st);
      } else {
        j->fail(st);
      }
    }
    list->swap(keep);
  }
}

bool Scheduler::Impl::make_room(int32_t cells, int32_t seqs) {
  auto fits = [&] {
    return cells_reserved + cache.cells() + cells <= n_ctx &&
           static_cast<int32_t>(free_seqs.size()) >= seqs;
  };
  while (!fits() && !cache.empty()) free_seq(cache.evict_lru());
  return fits();
}

void Scheduler::Impl::admit() {
  if (waiting.empty()) return;
  if (waiting_dirty) {
    std::stable_sort(waiting.begin(), waiting.end(), [](const auto& a, const auto& b) {
      return a->priority != b->priority ? a->priority > b->priority : a->order < b->order;
    });
    waiting_dirty = false;
  }
  std::vector<std::shared_ptr<Job>> still;
  bool blocked = false;
  for (auto& jp : waiting) {
    Job& j = *jp;
    // A request sharing a long prefix with one still prefilling it waits for that prefill and
    // then forks its cells from the cache, instead of computing the same prefix again.
    if (blocked || should_wait_for_leader(j)) {
      still.push_back(jp);
      continue;
    }
    if (!make_room(j.cells, j.n_seqs)) {
      blocked = true;  // strict order from here on: no overtaking, no starvation
      still.push_back(jp);
      continue;
    }
    start(j);
    running.push_back(jp);
  }
  waiting.swap(still);
}

bool Scheduler::Impl::should_wait_for_leader(const Job& j) const {
  if (opts.prefix_cache_tokens <= 0) return false;
  const int32_t n = static_cast<int32_t>(j.prompt.size()) - 1;
  if (n < opts.min_cached_prefix) return false;
  // Waiting pays only for what the leader computes beyond what the cache already holds: requests
  // that share just a cached chat-template header with a prefilling one start at once, instead
  // of one a step behind each other.
  const int32_t cached = cache.peek(j.prompt, n).length;
  for (const auto& rp : running) {
    const Job& r = *rp;
    if (r.ended || !r.prompt_pending() ||
        r.prompt.size() > static_cast<size_t>(opts.prefix_cache_tokens))
      continue;
    int32_t lcp = 0;
    const int32_t m = std::min<int32_t>(n, static_cast<int32_t>(r.prompt.size()));
    while (lcp < m && r.prompt[lcp] == j.prompt[lcp]) ++lcp;
    if (lcp - cached >= opts.min_cached_prefix) return true;
  }
  return false;
}

void Scheduler::Impl::cache_prompt(Job& j) {
  // Publish the prompt's cells as soon as they exist, so that requests admitted while this one
  // is still generating can fork them.
  const int32_t n = static_cast<int32_t>(j.prompt.size());
  if (opts.prefix_cache_tokens <= 0 || n < opts.min_cached_prefix || n > opts.prefix_cache_tokens)
    return;
  if (free_seqs.empty() || cells_reserved + cache.cells() + n > n_ctx) return;
  const int32_t seq = free_seqs.back();
  free_seqs.pop_back();
  ctx->seq_copy(j.prompt_seq, seq, 0, n);
  for (int32_t freed : cache.insert(seq, j.prompt)) free_seq(freed);
  while (cache.cells() > opts.prefix_cache_tokens && cache.size() > 1) free_seq(cache.evict_lru());
}

void Scheduler::Impl::free_seq(int32_t seq) {
  ctx->seq_remove(seq);
  free_seqs.push_back(seq);
}

void Scheduler::Impl::start(Job& j) {
  j.t_admit = Clock::now();
  cells_reserved += j.cells;
  for (int32_t k = 0; k < j.n_seqs; ++k) {
    j.seqs.push_back(free_seqs.back());
    free_seqs.pop_back();
  }
  j.prompt_seq = j.seqs[0];
  // At least the last prompt token is always decoded: its logits start the output.
  const int32_t max_reuse = static_cast<int32_t>(j.prompt.size()) - 1;
  if (opts.prefix_cache_tokens > 0 && max_reuse >= opts.min_cached_prefix) {
    PrefixCache::Match m = cache.lookup(j.prompt, max_reuse);
    if (m.length >= opts.min_cached_prefix) {
      ctx->seq_copy(m.seq, j.prompt_seq, 0, m.length);
      j.n_done = j.n_cached = m.length;
    }
  }
}

void Scheduler::Impl::build_batch() {
  batch.clear();
  int32_t budget = opts.step_token_budget;
  // Running samples and continuations first: they never wait for prefill.
  // Long jump-forward runs may not all fit in one llama batch: a sample then feeds what fits
  // (without logits) and the rest next step.
  const int32_t room = ctx->n_batch();
  for (auto& jp : running) {
    Job& j = *jp;
    for (auto& s : j.samples) {
      s.row = -1;
      s.n_feeding = 0;
      if (s.finished) continue;
      const int32_t n =
          std::min<int32_t>(static_cast<int32_t>(s.to_feed.size()), room - batch.size());
      for (int32_t k = 0; k < n; ++k) {
        const bool last = k + 1 == static_cast<int32_t>(s.to_feed.size());
        if (last) s.row = batch.size();
        batch.add(s.to_feed[k], s.n_past + k, s.seq, last);
      }
      s.n_feeding = n;
      budget -= n;
    }
  }
  for (auto& jp : running) {
    Job& j = *jp;
    j.prompt_row = -1;
    if (j.prompt_pending() && budget > 0) {
      const int32_t n = std::min<int32_t>(budget, static_cast<int32_t>(j.prompt.size()) - j.n_done);
      for (int32_t k = 0; k < n; ++k) {
        const int32_t pos = j.n_done + k;
        const bool last = pos + 1 == static_cast<int32_t>(j.prompt.size());
        if (last) j.prompt_row = batch.size();
        batch.add(j.prompt[pos], pos, j.prompt_seq, last);
      }
      budget -= n;
      j.n_done += n;  // provisional: a failed decode fails the job
    }
    // Score continuations: every token but the last is decoded, each with logits (the last
    // too when the request asks for the next tokens' log-probabilities).
    const int32_t extra = j.kind == Job::Kind::kScore && !j.sreq.next_tokens.empty() ? 1 : 0;
    for (auto& c : j.conts) {
      c.rows.clear();
      const int32_t todo = static_cast<int32_t>(c.tokens.size()) - 1 + extra - c.n_fed;
      const int32_t n = std::min(todo, std::max(budget, 0));
      for (int32_t k = 0; k < n; ++k) {
        const int32_t idx = c.n_fed + k;
        // Without token log-probabilities only the last token's row (next_tokens) is read:
        // on a 128k vocabulary the output rows are most of the work.
        const bool want = j.sreq.token_logprobs || idx + 1 == static_cast<int32_t>(c.tokens.size());
        c.rows.push_back(want ? batch.size() : -1);
        batch.add(c.tokens[idx], static_cast<engine::Pos>(j.prompt.size()) + idx, c.seq, want);
      }
      budget -= n;
    }
  }
}

void Scheduler::Impl::after_decode() {
  for (auto& jp : running) {
    Job& j = *jp;
    if (j.prompt_row >= 0) {
      if (j.kind == Job::Kind::kGenerate) {
        fork_generate(j);
      } else {
        fork_score(j);
      }
      continue;
    }
    for (auto& s : j.samples) {
      if (s.finished || s.n_feeding == 0) continue;
      s.n_past += s.n_feeding;
      s.to_feed.erase(s.to_feed.begin(), s.to_feed.begin() + s.n_feeding);
      if (s.row < 0) continue;  // part of a long forced run fed; the rest goes next step
      Status st = s.on_logits(ctx->logits(s.row), j.req, *model, n_ctx - s.n_past);
      if (!st.ok()) {
        abort_job(j, st);
        break;
      }
      if (s.finished) j.t_last = Clock::now();
    }
    if (j.ended) continue;
    for (auto& c : j.conts) {
      for (size_t k = 0; k < c.rows.size(); ++k) {
        if (c.rows[k] < 0) continue;
        auto row = ctx->logits(c.rows[k]);
        const int32_t next = c.n_fed + static_cast<int32_t>(k) + 1;
        const float lse = engine::log_sum_exp(row);
        if (next < static_cast<int32_t>(c.tokens.size())) {
          c.score.token_logprobs.push_back(row[c.tokens[next]] - lse);
        } else {
          for (Token t : j.sreq.next_tokens) c.score.next_logprobs.push_back(row[t] - lse);
        }
      }
      c.n_fed += static_cast<int32_t>(c.rows.size());
    }
  }
}

void Scheduler::Impl::fork_generate(Job& j) {
  j.forked = true;
  cache_prompt(j);
  j.t_first = Clock::now();
  const auto row = ctx->logits(j.prompt_row);
  const int32_t n_prompt = static_cast<int32_t>(j.prompt.size());
  j.samples.resize(j.req.n);
  for (int32_t i = 0; i < j.req.n; ++i) {
    SampleState& s = j.samples[i];
    if (i > 0) ctx->seq_copy(j.prompt_seq, j.seqs[i]);
    Status st = s.init(*model, j.req, i, j.seqs[i], n_prompt);
    if (!st.ok()) {
      abort_job(j, st);
      return;
    }
  }
  for (auto& s : j.samples) {
    Status st = s.on_logits(row, j.req, *model, n_ctx - s.n_past);
    if (!st.ok()) {
      abort_job(j, st);
      return;
    }
  }
  j.t_last = Clock::now();
}

void Scheduler::Impl::fork_score(Job& j) {
  j.forked = true;
  cache_prompt(j);
  const auto row = ctx->logits(j.prompt_row);
  const float lse = engine::log_sum_exp(row);
  j.conts.resize(j.sreq.continuations.size());
  for (size_t k = 0; k < j.conts.size(); ++k) {
    Continuation& c = j.conts[k];
    c.seq = j.seqs[k];
    c.tokens = j.sreq.continuations[k];
    if (j.sreq.token_logprobs) c.score.token_logprobs.push_back(row[c.tokens[0]] - lse);
    if (k > 0) ctx->seq_copy(j.prompt_seq, c.seq);
  }
}

bool Scheduler::Impl::job_done(const Job& j) const {
  if (!j.forked) return false;
  if (j.kind == Job::Kind::kGenerate) {
    return std::all_of(j.samples.begin(), j.samples.end(),
                       [](const auto& s) { return s.finished; });
  }
  const int32_t extra = j.sreq.next_tokens.empty() ? 0 : 1;
  return std::all_of(j.conts.begin(), j.conts.end(), [extra](const Continuation& c) {
    return c.n_fed + 1 >= static_cast<int32_t>(c.tokens.size()) + extra;
  });
}

void Scheduler::Impl::release(Job& j, bool keep_prompt) {
  j.ended = true;
  cells_reserved -= j.cells;
  const int32_t n_prompt = static_cast<int32_t>(j.prompt.size());
  for (int32_t seq : j.seqs) {
    // Each seq_remove scans every KV cell, so a prompt the cache already holds (published when
    // its prefill completed) is dropped in one call rather than trimmed and then dropped.
    if (keep_prompt && seq == j.prompt_seq && opts.prefix_cache_tokens > 0 &&
        n_prompt >= opts.min_cached_prefix && n_prompt <= opts.prefix_cache_tokens &&
        !cache.covers(j.prompt)) {
      // Keep the prompt's cells as a cached prefix; drop what was generated after it.
      ctx->seq_remove(seq, n_prompt, -1);
      for (int32_t freed : cache.insert(seq, j.prompt)) free_seq(freed);
      continue;
    }
    free_seq(seq);
  }
  j.seqs.clear();
  while (cache.cells() > opts.prefix_cache_tokens && !cache.empty()) free_seq(cache.evict_lru());
  // Visible before the request's result is: a caller that saw its result sees these too.
  std::lock_guard<std::mutex> lock(mu);
  publish_gauges();
}

void Scheduler::Impl::finish(Job& j) {
  release(j, true);
  const auto now = Clock::now();
  {
    std::lock_guard<std::mutex> lock(mu);
    stats.requests_done++;
    stats.tokens_cached += j.n_cached;
    stats.tokens_prefilled += static_cast<int64_t>(j.prompt.size()) - j.n_cached;
    for (const auto& s : j.samples)
      stats.tokens_decoded += static_cast<int64_t>(s.out.tokens.size());
  }
  if (j.kind == Job::Kind::kGenerate) {
    Completion c;
    c.n_prompt = static_cast<int32_t>(j.prompt.size());
    c.n_prompt_cached = j.n_cached;
    c.queue_ms = ms_between(j.t_submit, j.t_admit);
    c.prompt_ms = ms_between(j.t_admit, j.t_first);
    c.gen_ms = ms_between(j.t_first, j.t_last.time_since_epoch().count() ? j.t_last : now);
    for (auto& s : j.samples) c.samples.push_back(std::move(s.out));
    j.gen_promise.set_value(std::move(c));
  } else {
    ScoreResult r;
    r.n_prefix_cached = j.n_cached;
    for (auto& c : j.conts) {
      double sum = 0;
      for (float v : c.score.token_logprobs) sum += v;
      c.score.logprob = sum;
      c.score.mean_logprob =
          c.score.token_logprobs.empty()
              ? 0.0
              : sum / static_cast<double>(c.score.token_logprobs.size());
      r.scores.push_back(std::move(c.score));
    }
    j.score_promise.set_value(std::move(r));
  }
}

void Scheduler::Impl::abort_job(Job& j, const Status& st) {
  if (j.ended) return;
  release(j, false);
  j.fail(st);
}

}  // namespace troika::schedule
