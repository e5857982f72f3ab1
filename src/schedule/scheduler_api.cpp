// The scheduler's thread-safe entry points: creation, shutdown, submit() and score().
#include <algorithm>

#include "schedule/scheduler_impl.h"

namespace troika::schedule {

namespace {

Status check_generate(const Request& r, int32_t n_seq_max) {
  if (r.n < 1) return invalid_argument("n must be >= 1, got " + std::to_string(r.n));
  if (r.n > n_seq_max) {
    return invalid_argument("n = " + std::to_string(r.n) + " exceeds the scheduler's " +
                            std::to_string(n_seq_max) + " sequences");
  }
  if (r.max_tokens < 1) {
    return invalid_argument("max_tokens must be >= 1, got " + std::to_string(r.max_tokens));
  }
  if (r.top_logprobs < 0 || r.top_logprobs > 100) {
    return invalid_argument("top_logprobs must be in [0, 100], got " +
                            std::to_string(r.top_logprobs));
  }
  return Status::Ok();
}

}  // namespace

Scheduler::Scheduler(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Scheduler>> Scheduler::create(std::shared_ptr<const engine::Model> model,
                                                     const SchedulerOptions& options) {
  if (!model) return invalid_argument("Scheduler::create needs a loaded model");
  if (options.n_seq_max < 1 || options.n_seq_max > 256) {
    return invalid_argument("n_seq_max must be in [1, 256], got " +
                            std::to_string(options.n_seq_max));
  }
  if (options.step_token_budget < 1) {
    return invalid_argument("step_token_budget must be >= 1");
  }
  engine::ContextOptions co;
  co.n_ctx = options.n_ctx;
  co.n_seq_max = options.n_seq_max;
  co.n_batch = std::max(options.step_token_budget, options.n_seq_max) + options.n_seq_max * 8;
  co.n_ubatch = std::min(512, co.n_batch);
  co.n_threads = options.n_threads;
  co.flash_attn = options.flash_attn;
  co.kv_type = options.kv_type;
  co.swa_full = options.swa_full;
  co.unified_kv = true;
  auto ctx = engine::Context::create(model, co);
  if (!ctx.ok()) return ctx.status();

  auto impl = std::make_unique<Impl>();
  impl->model = model;
  impl->opts = options;
  impl->ctx = std::move(*ctx);
  impl->n_ctx = impl->ctx->n_ctx();
  for (int32_t s = options.n_seq_max - 1; s >= 0; --s) impl->free_seqs.push_back(s);
  impl->solo = std::make_unique<SoloRunner>(model, options);
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->loop(); });
  return std::unique_ptr<Scheduler>(new Scheduler(std::move(impl)));
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->solo.reset();
}

const engine::Model& Scheduler::model() const { return *impl_->model; }
std::shared_ptr<const engine::Model> Scheduler::shared_model() const { return impl_->model; }
const SchedulerOptions& Scheduler::options() const { return impl_->opts; }

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->stats;
}

Status Scheduler::Impl::enqueue(std::shared_ptr<Job> job) {
  const int32_t n_vocab = model->info().n_vocab;
  for (Token t : job->prompt) {
    if (t < 0 || t >= n_vocab) {
      return invalid_argument("prompt token " + std::to_string(t) + " is outside the vocabulary");
    }
  }
  if (job->cells > n_ctx) {
    return invalid_argument("the request needs up to " + std::to_string(job->cells) +
                              " KV cells (prompt + n x max_tokens) but the scheduler has " +
                              std::to_string(n_ctx) + "; shorten it or raise n_ctx");
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    if (stopping) return cancelled("the scheduler is shutting down");
    job->order = next_order++;
    incoming.push_back(std::move(job));
  }
  cv.notify_all();
  return Status::Ok();
}

Handle<Completion> Scheduler::submit(Request request) {
  auto job = std::make_shared<Job>();
  job->kind = Job::Kind::kGenerate;
  job->cancel = std::make_shared<std::atomic<bool>>(false);
  Handle<Completion> handle(job->gen_promise.get_future().share(), job->cancel);
  job->t_submit = Clock::now();
  Status st = check_generate(request, impl_->opts.n_seq_max);
  if (st.ok() && request.prompt.empty()) {
    if (request.messages.empty()) {
      st = invalid_argument("the request has neither a prompt nor messages");
    } else {
      auto text = impl_->model->render_chat(request.messages);
      auto ids = text.ok() ? impl_->model->tokenize(*text, true, true)
                           : Result<std::vector<Token>>(text.status());
      if (ids.ok()) {
        request.prompt = std::move(*ids);
      } else {
        st = ids.status();
      }
    }
  }
  if (!st.ok()) {
    job->fail(st);
    return handle;
  }
  job->prompt = request.prompt;
  job->priority = request.priority;
  job->deadline = request.deadline;
  job->cells = static_cast<int32_t>(job->prompt.size()) + request.n * request.max_tokens;
  job->n_seqs = request.n;
  job->req = std::move(request);
  if (job->req.reproducible) {
    impl_->solo->submit(std::move(job));
    return handle;
  }
  st = impl_->enqueue(job);
  if (!st.ok()) job->fail(st);
  return handle;
}

Handle<ScoreResult> Scheduler::score(ScoreRequest request) {
  auto job = std::make_shared<Job>();
  job->kind = Job::Kind::kScore;
  job->cancel = std::make_shared<std::atomic<bool>>(false);
  Handle<ScoreResult> handle(job->score_promise.get_future().share(), job->cancel);
  job->t_submit = Clock::now();
  Status st;
  if (request.prefix.empty()) st = invalid_argument("score needs a non-empty prefix");
  if (request.continuations.empty()) st = invalid_argument("score needs at least one continuation");
  if (static_cast<int32_t>(request.continuations.size()) > impl_->opts.n_seq_max) {
    st = invalid_argument(std::to_string(request.continuations.size()) +
                          " continuations exceed the scheduler's " +
                          std::to_string(impl_->opts.n_seq_max) + " sequences; score in groups");
  }
  int32_t cells = static_cast<int32_t>(request.prefix.size());
  for (size_t k = 0; k < request.continuations.size() && st.ok(); ++k) {
    const auto& c = request.continuations[k];
    if (c.empty()) st = invalid_argument("continuation " + std::to_string(k) + " is empty");
    for (Token t : c) {
      if (!impl_->model->is_valid(t)) {
        st = invalid_argument("continuation " + std::to_string(k) + " has token " +
                              std::to_string(t) + " outside the vocabulary");
      }
    }
    cells += static_cast<int32_t>(c.size());
  }
  if (!request.token_logprobs && request.next_tokens.empty() && st.ok()) {
    st = invalid_argument("score without token_logprobs needs next_tokens (nothing to return)");
  }
  for (Token t : request.next_tokens) {
    if (!impl_->model->is_valid(t) && st.ok()) {
      st = invalid_argument("next token " + std::to_string(t) + " is outside the vocabulary");
    }
  }
  if (!st.ok()) {
    job->fail(st);
    return handle;
  }
  job->prompt = request.prefix;
  job->priority = request.priority;
  job->deadline = request.deadline;
  job->cells = cells;
  job->n_seqs = static_cast<int32_t>(request.continuations.size());
  job->sreq = std::move(request);
  st = impl_->enqueue(job);
  if (!st.ok()) job->fail(st);
  return handle;
}

}  // namespace troika::schedule
