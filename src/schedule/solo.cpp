#include "schedule/solo.h"

namespace troika::schedule {

SoloRunner::SoloRunner(std::shared_ptr<const engine::Model> model, const SchedulerOptions& options)
    : model_(std::move(model)), opts_(options) {}

SoloRunner::~SoloRunner() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto& j : queue_) j->fail(cancelled("the scheduler shut down before the request ran"));
}

void SoloRunner::submit(std::shared_ptr<Job> job) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) {
    job->fail(cancelled("the scheduler is shutting down"));
    return;
  }
  queue_.push_back(std::move(job));
  if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
  cv_.notify_all();
}

void SoloRunner::loop() {
  while (true) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    run(*job);
  }
}

Status SoloRunner::run_sample(Job& j, SampleState& s, std::span<const float> first_row) {
  const int32_t n_ctx = ctx_->n_ctx();
  TROIKA_RETURN_IF_ERROR(s.on_logits(first_row, j.req, *model_, n_ctx - s.n_past));
  engine::Batch batch;
  while (!s.finished) {
    if (j.cancel->load()) return cancelled("the request was cancelled");
    if (j.deadline && Clock::now() >= *j.deadline) {
      return Status(Code::kDeadlineExceeded, "the request's deadline passed");
    }
    batch.clear();
    for (size_t k = 0; k < s.to_feed.size(); ++k) {
      batch.add(s.to_feed[k], s.n_past + static_cast<engine::Pos>(k), 0, k + 1 == s.to_feed.size());
    }
    TROIKA_RETURN_IF_ERROR(ctx_->decode(batch));
    s.n_past += static_cast<engine::Pos>(s.to_feed.size());
    TROIKA_RETURN_IF_ERROR(s.on_logits(ctx_->logits(-1), j.req, *model_, n_ctx - s.n_past));
  }
  return Status::Ok();
}

void SoloRunner::run(Job& j) {
  j.t_admit = Clock::now();
  if (!ctx_) {
    engine::ContextOptions co;
    co.n_ctx = opts_.reproducible_n_ctx;
    co.n_threads = opts_.n_threads;
    co.flash_attn = opts_.flash_attn;
    co.kv_type = opts_.kv_type;
    co.swa_full = opts_.swa_full;
    auto ctx = engine::Context::create(model_, co);
    if (!ctx.ok()) {
      j.fail(ctx.status());
      return;
    }
    ctx_ = std::move(*ctx);
  }
  const int32_t n_prompt = static_cast<int32_t>(j.prompt.size());
  if (n_prompt + j.req.max_tokens > ctx_->n_ctx()) {
    j.fail(invalid_argument("a reproducible request needs " +
                              std::to_string(n_prompt + j.req.max_tokens) +
                              " KV cells; the reproducible context has " +
                              std::to_string(ctx_->n_ctx()) + " (raise reproducible_n_ctx)"));
    return;
  }
  // Every sample starts from the same prompt cells and decodes into the same cells after them,
  // exactly as an n = 1 run does.
  ctx_->clear();
  Status st = ctx_->prefill(j.prompt, 0, 0, true);
  if (!st.ok()) {
    j.fail(st);
    return;
  }
  const auto row = ctx_->logits(-1);
  const std::vector<float> first_row(row.begin(), row.end());
  j.t_first = Clock::now();
  Completion c;
  c.n_prompt = n_prompt;
  for (int32_t i = 0; i < j.req.n; ++i) {
    SampleState s;
    st = s.init(*model_, j.req, i, 0, n_prompt);
    if (!st.ok()) {
      j.fail(st);
      return;
    }
    st = run_sample(j, s, first_row);
    ctx_->seq_remove(0, n_prompt, -1);
    if (!st.ok()) {
      j.fail(st);
      return;
    }
    c.samples.push_back(std::move(s.out));
  }
  j.t_last = Clock::now();
  c.queue_ms = ms_between(j.t_submit, j.t_admit);
  c.prompt_ms = ms_between(j.t_admit, j.t_first);
  c.gen_ms = ms_between(j.t_first, j.t_last);
  j.ended = true;
  j.gen_promise.set_value(std::move(c));
}

}  // namespace troika::schedule
