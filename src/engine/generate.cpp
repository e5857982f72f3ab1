#include "troika/generate.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "engine/internal.h"

namespace troika::engine {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Length of the longest proper prefix of a UTF-8 character left dangling at the end of `s`.
size_t incomplete_utf8_tail(const std::string& s, size_t end) {
  for (size_t back = 1; back <= 3 && back <= end; ++back) {
    unsigned char c = static_cast<unsigned char>(s[end - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

}  // namespace

bool TextStream::append(std::string_view piece) {
  text_ += piece;
  size_t cut = std::string::npos;
  for (const auto& stop : stop_) {
    if (stop.empty()) continue;
    size_t from = emitted_ >= stop.size() ? emitted_ - (stop.size() - 1) : 0;
    size_t at = text_.find(stop, from);
    if (at != std::string::npos) cut = std::min(cut, at);
  }
  if (cut == std::string::npos) return false;
  text_.resize(cut);
  if (emitted_ > cut) emitted_ = cut;
  return true;
}

std::string_view TextStream::settle(bool final) {
  size_t end = text_.size();
  if (!final) {
    for (const auto& stop : stop_) {
      if (stop.empty()) continue;
      for (size_t k = std::min(stop.size() - 1, text_.size()); k > 0; --k) {
        if (text_.compare(text_.size() - k, k, stop, 0, k) == 0) {
          end = std::min(end, text_.size() - k);
          break;
        }
      }
    }
    end -= incomplete_utf8_tail(text_, end);
  }
  if (end <= emitted_) return {};
  std::string_view piece(text_.data() + emitted_, end - emitted_);
  emitted_ = end;
  return piece;
}

const char* to_string(FinishReason reason) {
  switch (reason) {
    case FinishReason::kEndOfGeneration:
      return "eog";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kStopString:
      return "stop";
    case FinishReason::kCallback:
      return "callback";
  }
  return "unknown";
}

std::string GenerateStats::to_json() const {
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "{\"n_prompt\":%d,\"n_generated\":%d,\"prompt_ms\":%.3f,\"gen_ms\":%.3f,"
                "\"gen_tokens_per_s\":%.3f}",
                n_prompt, n_generated, prompt_ms, gen_ms, gen_tokens_per_s());
  return buf;
}

Result<Generation> generate(Context& ctx, std::span<const Token> prompt,
                            const GenerateOptions& options) {
  if (prompt.empty()) return invalid_argument("the prompt is empty: give at least one token");
  const int32_t n_ctx = ctx.n_ctx();
  if (static_cast<int64_t>(prompt.size()) >= n_ctx) {
    return invalid_argument("the prompt has " + std::to_string(prompt.size()) +
                            " tokens but the context holds " + std::to_string(n_ctx) +
                            " (with room for at least one new token); shorten the prompt or "
                            "raise the context size (--ctx)");
  }
  auto sampler = Sampler::create(ctx.model(), options.sampling);
  if (!sampler.ok()) return sampler.status();

  const Model& model = ctx.model();
  Generation gen;
  gen.stats.n_prompt = static_cast<int32_t>(prompt.size());
  ctx.seq_remove(options.seq);

  auto t0 = Clock::now();
  TROIKA_RETURN_IF_ERROR(ctx.prefill(prompt, options.seq, 0, true));
  gen.stats.prompt_ms = ms_since(t0);

  TextStream stream(options.stop);
  auto emit = [&](bool final) {
    std::string_view piece = stream.settle(final);
    return piece.empty() || !options.on_text || options.on_text(piece);
  };
  Pos pos = static_cast<Pos>(prompt.size());
  const int32_t limit = options.n_predict < 0 ? n_ctx : options.n_predict;
  Batch batch;
  auto t1 = Clock::now();
  gen.finish = FinishReason::kLength;
  while (gen.stats.n_generated < limit) {
    Token tok = (*sampler)->sample(ctx.logits(-1));
    gen.tokens.push_back(tok);
    ++gen.stats.n_generated;
    if (!options.ignore_eos && model.is_eog(tok)) {
      gen.finish = FinishReason::kEndOfGeneration;
      break;
    }
    if (stream.append(model.token_to_piece(tok, false))) {
      gen.finish = FinishReason::kStopString;
      break;
    }
    if (!emit(false)) {
      gen.finish = FinishReason::kCallback;
      break;
    }
    if (gen.stats.n_generated >= limit || pos >= n_ctx) break;
    batch.clear();
    batch.add(tok, pos++, options.seq, true);
    TROIKA_RETURN_IF_ERROR(ctx.decode(batch));
  }
  gen.stats.gen_ms = ms_since(t1);
  if (gen.finish != FinishReason::kCallback) emit(true);
  gen.text = stream.take();
  return gen;
}

}  // namespace troika::engine
