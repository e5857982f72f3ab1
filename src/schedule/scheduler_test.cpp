// The scheduler on tiny synthetic models: concurrency, sharing, scoring, constraints, memory.
#include "troika/schedule.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <thread>

#include "test_models.h"

namespace troika::schedule {
namespace {

using engine::Token;
using std::chrono::milliseconds;

std::shared_ptr<const engine::Model> model() {
  static auto m = [] {
    auto r = engine::Model::load(testing::tiny_model("llama"));
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? std::shared_ptr<const engine::Model>(*r) : nullptr;
  }();
  return m;
}

std::unique_ptr<Scheduler> make(SchedulerOptions o = {}) {
  if (o.n_ctx == 8192) o.n_ctx = 4096;
  auto s = Scheduler::create(model(), o);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  return s.ok() ? std::move(*s) : nullptr;
}

std::vector<Token> tokens(const std::string& text, bool bos = true) {
  return *model()->tokenize(text, bos, false);
}

Request request(const std::string& prompt, int32_t max_tokens, uint32_t seed) {
  Request r;
  r.prompt = tokens(prompt);
  r.max_tokens = max_tokens;
  r.ignore_eos = true;
  r.sampling.temperature = 0.8f;
  r.sampling.seed = seed;
  return r;
}

// Copies the result out: a Handle's value lives only as long as some handle to it.
Completion ok(const Handle<Completion>& h) {
  const auto& r = h.get();
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? *r : Completion{};
}

TEST(Scheduler, SingleRequestMatchesEngineGenerate) {
  auto s = make();
  Request r = request("The capital of France is", 16, 5);
  r.sampling.temperature = 0;
  r.reproducible = true;
  const Completion c = ok(s->submit(std::move(r)));
  ASSERT_EQ(c.samples.size(), 1u);

  auto ctx = *engine::Context::create(model(), {.n_ctx = 512});
  engine::GenerateOptions go;
  go.n_predict = 16;
  go.ignore_eos = true;
  go.sampling.temperature = 0;
  auto g = engine::generate(*ctx, tokens("The capital of France is"), go);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(c.samples[0].tokens, g->tokens);
  EXPECT_EQ(c.samples[0].text, g->text);
}

TEST(Scheduler, ForkedSamplesEqualIndependentRunsInReproducibleMode) {
  auto s = make();
  Request r = request("Tell me a story about a dragon", 20, 100);
  r.n = 4;
  r.reproducible = true;
  const Completion forked = ok(s->submit(std::move(r)));
  ASSERT_EQ(forked.samples.size(), 4u);
  for (uint32_t i = 0; i < 4; ++i) {
    Request one = request("Tell me a story about a dragon", 20, 100 + i);
    one.reproducible = true;
    const Completion c = ok(s->submit(std::move(one)));
    EXPECT_EQ(c.samples[0].tokens, forked.samples[i].tokens) << "sample " << i;
  }
  EXPECT_NE(forked.samples[0].tokens, forked.samples[1].tokens);
}

TEST(Scheduler, ReproducibleOutputIgnoresConcurrentLoad) {
  auto s = make();
  Request alone = request("Reproducible under load", 24, 7);
  alone.reproducible = true;
  const Completion a = ok(s->submit(std::move(alone)));
  std::vector<Handle<Completion>> noise;
  for (int i = 0; i < 6; ++i)
    noise.push_back(s->submit(request("noise " + std::to_string(i), 32, i)));
  Request loaded = request("Reproducible under load", 24, 7);
  loaded.reproducible = true;
  const Completion b = ok(s->submit(std::move(loaded)));
  EXPECT_EQ(a.samples[0].tokens, b.samples[0].tokens);
  for (auto& h : noise) ok(h);
}

TEST(Scheduler, SameRequestAloneIsDeterministicWithoutCache) {
  auto s = make({.prefix_cache_tokens = 0});
  const Completion a = ok(s->submit(request("Determinism check", 24, 42)));
  const Completion b = ok(s->submit(request("Determinism check", 24, 42)));
  EXPECT_EQ(a.samples[0].tokens, b.samples[0].tokens);
  EXPECT_EQ(a.samples[0].tokens.size(), 24u);
}

TEST(Scheduler, ManyThreadsSubmitCancelAndTimeOut) {
  auto s = make({.n_ctx = 4096, .n_seq_max = 16});
  std::atomic<int> done{0}, cancelled{0}, expired{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        Request r = request("thread " + std::to_string(t) + " request " + std::to_string(i),
                            8 + 4 * i, t * 100 + i);
        const int kind = (t + i) % 4;
        if (kind == 1) r.deadline = std::chrono::steady_clock::now() + milliseconds(1);
        auto h = s->submit(std::move(r));
        if (kind == 2) h.cancel();
        const auto& res = h.get();
        if (res.ok()) {
          EXPECT_EQ(res->samples[0].tokens.size(), static_cast<size_t>(8 + 4 * i));
          done++;
        } else if (res.status().code() == Code::kCancelled) {
          cancelled++;
        } else if (res.status().code() == Code::kDeadlineExceeded) {
          expired++;
        } else {
          ADD_FAILURE() << res.status().to_string();
          other++;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(done + cancelled + expired, 30);
  EXPECT_GE(done.load(), 15);  // kinds 0 and 3 always complete
  EXPECT_EQ(other.load(), 0);
  auto st = s->stats();
  EXPECT_EQ(st.cells_reserved, 0);
  EXPECT_EQ(st.running, 0);
}

TEST(Scheduler, ScoresEqualNaiveComputation) {
  auto s = make();
  ScoreRequest sr;
  sr.prefix = tokens("Review: the food was cold and late. Sentiment:");
  const std::vector<std::string> labels = {" positive", " negative", " neutral", " mixed", " n/a"};
  for (const auto& l : labels) sr.continuations.push_back(tokens(l, false));
  const auto handle = s->score(sr);
  const auto& res = handle.get();
  ASSERT_TRUE(res.ok()) << res.status().to_string();
  ASSERT_EQ(res->scores.size(), labels.size());
  for (size_t k = 0; k < labels.size(); ++k) {
    // Naive: the whole text in a fresh context, log-softmax at each position.
    auto ctx = *engine::Context::create(model(), {.n_ctx = 512});
    std::vector<Token> all = sr.prefix;
    all.insert(all.end(), sr.continuations[k].begin(), sr.continuations[k].end());
    engine::Batch b;
    for (size_t i = 0; i < all.size(); ++i) b.add(all[i], static_cast<int32_t>(i), 0, true);
    ASSERT_TRUE(ctx->decode(b).ok());
    double want = 0;
    std::vector<float> lp;
    for (size_t j = 0; j < sr.continuations[k].size(); ++j) {
      engine::log_softmax(ctx->logits(static_cast<int32_t>(sr.prefix.size() + j - 1)), lp);
      const float v = lp[sr.continuations[k][j]];
      want += v;
      EXPECT_NEAR(res->scores[k].token_logprobs[j], v, 2e-3) << labels[k] << " token " << j;
    }
    EXPECT_NEAR(res->scores[k].logprob, want, 5e-3) << labels[k];
    EXPECT_NEAR(res->scores[k].mean_logprob, want / sr.continuations[k].size(), 5e-3);
  }
}

// next_tokens: the distribution after the whole continuation, as a naive decode computes it.
TEST(Scheduler, NextTokenLogprobsEqualNaiveComputation) {
  auto s = make();
  ScoreRequest sr;
  sr.prefix = tokens("Query: cats. Document:");
  sr.continuations = {tokens(" cats purr. Relevant?", false), tokens(" x", false)};
  sr.next_tokens = {tokens(" yes", false).at(0), tokens(" no", false).at(0)};
  const auto res = s->score(sr).get();
  ASSERT_TRUE(res.ok()) << res.status().to_string();
  for (size_t k = 0; k < sr.continuations.size(); ++k) {
    ASSERT_EQ(res->scores[k].next_logprobs.size(), 2u);
    ASSERT_EQ(res->scores[k].token_logprobs.size(), sr.continuations[k].size());
    auto ctx = *engine::Context::create(model(), {.n_ctx = 512});
    std::vector<Token> all = sr.prefix;
    all.insert(all.end(), sr.continuations[k].begin(), sr.continuations[k].end());
    ASSERT_TRUE(ctx->prefill(all, 0, 0, true).ok());
    std::vector<float> lp;
    engine::log_softmax(ctx->logits(-1), lp);
    for (size_t j = 0; j < 2; ++j)
      EXPECT_NEAR(res->scores[k].next_logprobs[j], lp[sr.next_tokens[j]], 2e-3) << k << " " << j;
  }
  // Without the continuations' own log-probabilities: the same next-token ones.
  ScoreRequest lean = sr;
  lean.token_logprobs = false;
  const auto fast = s->score(lean).get();
  ASSERT_TRUE(fast.ok()) << fast.status().to_string();
  for (size_t k = 0; k < sr.continuations.size(); ++k) {
    EXPECT_TRUE(fast->scores[k].token_logprobs.empty());
    for (size_t j = 0; j < 2; ++j)
      EXPECT_NEAR(fast->scores[k].next_logprobs[j], res->scores[k].next_logprobs[j], 2e-3);
  }
  lean.next_tokens.clear();
  EXPECT_EQ(s->score(lean).get().status().code(), Code::kInvalidArgument);
  ScoreRequest bad = sr;
  bad.next_tokens = {-5};
  EXPECT_EQ(s->score(bad).get().status().code(), Code::kInvalidArgument);
}

TEST(Scheduler, KvExhaustionWaitsOrFailsButNeverCrashes) {
  auto s = make({.n_ctx = 512, .n_seq_max = 8, .prefix_cache_tokens = 0});
  // Can never fit: fails at once, as a request error (retrying cannot help).
  Request huge = request("too big", 600, 1);
  const auto huge_handle = s->submit(std::move(huge));
  const auto& r = huge_handle.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  // Each fits alone, not all together: they queue and all finish.
  std::vector<Handle<Completion>> hs;
  for (int i = 0; i < 4; ++i)
    hs.push_back(s->submit(request("fits alone " + std::to_string(i), 200, i)));
  for (auto& h : hs) EXPECT_EQ(ok(h).samples[0].tokens.size(), 200u);
  EXPECT_EQ(s->stats().cells_reserved, 0);
}

TEST(Scheduler, PrefixCacheHitsAndEvicts) {
  auto s =
      make({.n_ctx = 4096, .n_seq_max = 8, .prefix_cache_tokens = 300, .min_cached_prefix = 16});
  std::string shared;
  for (int i = 0; i < 40; ++i) shared += " word" + std::to_string(i);
  const Completion first = ok(s->submit(request(shared, 4, 1)));
  EXPECT_EQ(first.n_prompt_cached, 0);
  const Completion second = ok(s->submit(request(shared + " and a new question?", 4, 2)));
  EXPECT_EQ(second.n_prompt_cached, first.n_prompt);
  EXPECT_GT(s->stats().tokens_cached, 0);
  // Fill past the 300-cell budget with unrelated prompts: the cache stays within budget.
  for (int k = 0; k < 5; ++k) {
    std::string other;
    for (int i = 0; i < 40; ++i) other += " x" + std::to_string(k * 100 + i);
    ok(s->submit(request(other, 2, k)));
  }
  EXPECT_LE(s->stats().cells_cached, 300);
  const Completion third = ok(s->submit(request(shared + " again", 4, 3)));
  EXPECT_EQ(third.n_prompt_cached, 0) << "the oldest prefix should have been evicted";
}

TEST(Scheduler, ConcurrentRequestsShareAPrefixBeingPrefilled) {
  auto s = make({.n_ctx = 4096, .n_seq_max = 16, .step_token_budget = 64});
  std::string shared;
  for (int i = 0; i < 60; ++i) shared += " shared" + std::to_string(i);
  std::vector<Handle<Completion>> hs;
  for (int i = 0; i < 5; ++i)
    hs.push_back(s->submit(request(shared + " q" + std::to_string(i), 4, i)));
  int32_t cached = 0, n_prompt = 0;
  for (auto& h : hs) {
    const Completion c = ok(h);
    cached += c.n_prompt_cached;
    n_prompt = std::max(n_prompt, c.n_prompt);
  }
  // The first request prefills the shared part; the other four fork it.
  EXPECT_GE(cached, 4 * (n_prompt - 8)) << "prompt " << n_prompt;
}

TEST(Scheduler, ChoiceConstraintYieldsAChoice) {
  auto s = make();
  const std::vector<std::string> choices = {"positive", "negative", "neutral"};
  for (uint32_t seed = 0; seed < 4; ++seed) {
    Request r = request("Sentiment of 'great food':", 10, seed);
    r.ignore_eos = false;
    r.constraint = std::move(*ChoiceConstraint::create(model(), choices));
    const Completion c = ok(s->submit(std::move(r)));
    EXPECT_NE(std::find(choices.begin(), choices.end(), c.samples[0].text), choices.end())
        << "'" << c.samples[0].text << "'";
    EXPECT_EQ(c.samples[0].finish, engine::FinishReason::kEndOfGeneration);
  }
}

TEST(Scheduler, ChoiceConstraintJumpsForward) {
  auto c = *ChoiceConstraint::create(model(), {"alpha centauri", "beta"});
  engine::TokenMask mask(model()->info().n_vocab);
  c->fill_mask(mask);
  EXPECT_GT(mask.count(), 0);
  Token a = tokens("alpha", false)[0];
  ASSERT_TRUE(mask.allows(a));
  ASSERT_TRUE(c->advance(a).ok());
  std::vector<Token> forced = c->forced();
  EXPECT_FALSE(forced.empty());
  for (Token t : forced) ASSERT_TRUE(c->advance(t).ok());
  EXPECT_EQ(c->text(), "alpha centauri");
  EXPECT_TRUE(c->done());
  EXPECT_EQ(c->advance(tokens("x", false)[0]).code(), Code::kInvalidArgument);
}

TEST(Scheduler, LongForcedRunsSpanSeveralBatches) {
  // n_batch here is 24 tokens; the only choice is far longer, so jump-forward must feed it in
  // pieces across steps.
  auto s = make({.n_ctx = 1024, .n_seq_max = 2, .step_token_budget = 8});
  std::string longer;
  for (int i = 0; i < 30; ++i) longer += "token" + std::to_string(i) + " ";
  Request r = request("Copy:", 200, 1);
  r.ignore_eos = false;
  r.n = 2;
  r.constraint = *ChoiceConstraint::create(model(), {longer});
  const Completion c = ok(s->submit(std::move(r)));
  ASSERT_EQ(c.samples.size(), 2u);
  for (const auto& smp : c.samples) {
    EXPECT_EQ(smp.text, longer);
    EXPECT_GT(smp.tokens.size(), 24u);
  }
  // Forced tokens were fed many per step, not one per step.
  EXPECT_LT(s->stats().steps, static_cast<int64_t>(c.samples[0].tokens.size()));
}

TEST(Scheduler, LogprobsAndStreaming) {
  auto s = make();
  Request r = request("Stream me", 12, 9);
  r.n = 2;
  r.top_logprobs = 3;
  std::mutex mu;
  std::string streamed[2];
  r.on_text = [&](const StreamEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    streamed[e.index] += e.text;
  };
  const Completion c = ok(s->submit(std::move(r)));
  ASSERT_EQ(c.samples.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(streamed[i], c.samples[i].text);
    ASSERT_EQ(c.samples[i].logprobs.size(), 12u);
    for (const auto& li : c.samples[i].logprobs) {
      ASSERT_EQ(li.top.size(), 3u);
      EXPECT_LE(li.logprob, li.top[0].logprob + 1e-5);
      EXPECT_LE(li.logprob, 0.0f);
    }
  }
}

TEST(Scheduler, BadRequestsFailClearly) {
  auto s = make();
  Request none;
  EXPECT_EQ(s->submit(std::move(none)).get().status().code(), Code::kInvalidArgument);
  Request bad_n = request("x", 4, 1);
  bad_n.n = 0;
  EXPECT_EQ(s->submit(std::move(bad_n)).get().status().code(), Code::kInvalidArgument);
  Request bad_tok = request("x", 4, 1);
  bad_tok.prompt.push_back(1 << 30);
  EXPECT_EQ(s->submit(std::move(bad_tok)).get().status().code(), Code::kInvalidArgument);
  ScoreRequest empty;
  EXPECT_EQ(s->score(empty).get().status().code(), Code::kInvalidArgument);
  Request chat;
  chat.messages = {{"user", "Hi"}};
  chat.max_tokens = 3;
  EXPECT_TRUE(s->submit(std::move(chat)).get().ok());
}

TEST(Scheduler, ShutdownCancelsPending) {
  Handle<Completion> h;
  {
    auto s = make({.n_ctx = 512, .n_seq_max = 2});
    std::vector<Handle<Completion>> hs;
    for (int i = 0; i < 6; ++i)
      hs.push_back(s->submit(request("pending " + std::to_string(i), 200, i)));
    h = hs.back();
  }
  const auto& r = h.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCancelled);
}

}  // namespace
}  // namespace troika::schedule
