// The scheduler-facing constraints: JSON Schema, any JSON, and regular expressions.
#include <chrono>
#include <map>
#include <mutex>

#include "grammar.h"
#include "schema_impl.h"

namespace troika::constrain {

namespace {

using Clock = std::chrono::steady_clock;

class GrammarConstraint : public TextConstraint {
 public:
  GrammarConstraint(std::shared_ptr<Grammar> g, MatchState s, bool jump_forward,
                    std::shared_ptr<ConstraintStats> stats = nullptr)
      : g_(std::move(g)),
        state_(std::move(s)),
        jump_forward_(jump_forward),
        stats_(stats ? std::move(stats) : std::make_shared<ConstraintStats>()) {}

  void fill_mask(engine::TokenMask& mask) override {
    if (ended_) return;
    auto t0 = Clock::now();
    bool hit = g_->fill(state_, text_, mask.words().data());
    double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    ++stats_->masks;
    stats_->mask_cache_hits += hit;
    stats_->mask_us += us;
    stats_->max_mask_us = std::max(stats_->max_mask_us, us);
  }

  Status advance(engine::Token token) override {
    const TokenIndex& index = g_->index();
    if (ended_) return invalid_argument("the constrained output is already complete");
    if (token < 0 || token >= index.n_vocab()) {
      return invalid_argument("token " + std::to_string(token) + " is not in the vocabulary");
    }
    if (index.is_eog(token)) {
      if (!state_.can_end(g_->table(), text_)) {
        return invalid_argument("end of generation before the output is complete: '" + tail() +
                                "'");
      }
      ended_ = true;
      return Status::Ok();
    }
    const std::string& piece = index.piece(token);
    if (piece.empty()) {
      return invalid_argument("token " + std::to_string(token) +
                              " is a control token, not allowed inside constrained output");
    }
    return advance_bytes(piece);
  }

  Status advance_bytes(std::string_view bytes) override {
    MatchState before = state_;
    const size_t base = text_.size();
    for (char c : bytes) {
      text_.push_back(c);
      if (!state_.step(g_->table(), text_)) {
        state_ = std::move(before);
        text_.resize(base);
        std::string m = "'";
        m.append(bytes);
        m += "' cannot follow '" + tail() + "' in the constrained output";
        return invalid_argument(std::move(m));
      }
    }
    return Status::Ok();
  }

  std::vector<engine::Token> forced() override {
    if (!jump_forward_ || ended_) return {};
    const auto& model = g_->index().impl().model;
    if (!model) return {};
    std::string bytes = g_->forced_bytes(state_, text_, 256);
    if (bytes.empty()) return {};
    // The model's own tokenization when it spells the bytes exactly; else (an SPM tokenizer
    // adds its leading space) the longest vocabulary tokens that do.
    std::vector<engine::Token> ids;
    auto own = model->tokenize(bytes, false, false);
    if (own.ok()) {
      std::string joined;
      for (engine::Token t : *own) joined += g_->index().piece(t);
      if (joined == bytes) ids = *own;
    }
    if (ids.empty()) ids = longest_match(bytes);
    if (ids.empty()) return {};
    MatchState probe = state_;
    std::string text = text_;
    bool ok = true;
    for (char c : bytes) {
      text.push_back(c);
      ok = ok && probe.step(g_->table(), text);
    }
    if (!(ok && probe.done())) ids.pop_back();
    stats_->forced_tokens += static_cast<int64_t>(ids.size());
    return ids;
  }

  bool done() const override { return ended_ || state_.done(); }

  std::unique_ptr<schedule::Constraint> clone() const override {
    auto c = std::make_unique<GrammarConstraint>(g_, state_, jump_forward_, stats_);
    c->text_ = text_;
    c->ended_ = ended_;
    return c;
  }

  const std::string& text() const override { return text_; }
  const ConstraintStats& stats() const override { return *stats_; }

 private:
  // Greedy longest-match tokenization of `bytes` over the vocabulary trie; empty when some
  // position has no token.
  std::vector<engine::Token> longest_match(const std::string& bytes) const {
    const Trie& trie = g_->index().impl().trie;
    std::vector<engine::Token> out;
    size_t pos = 0;
    while (pos < bytes.size()) {
      uint32_t node = 0;
      int32_t best = -1;
      size_t best_len = 0;
      for (size_t i = pos; i < bytes.size(); ++i) {
        const Trie::Node& n = trie.nodes[node];
        uint32_t next = 0;
        for (uint32_t e = n.child_begin; e < n.child_begin + n.n_children; ++e) {
          if (trie.edge_byte[e] == static_cast<uint8_t>(bytes[i])) next = trie.edge_child[e];
        }
        if (next == 0) break;
        node = next;
        if (trie.nodes[node].n_tokens > 0) {
          best = trie.tokens[trie.nodes[node].token_begin];
          best_len = i + 1 - pos;
        }
      }
      if (best < 0) return {};
      out.push_back(best);
      pos += best_len;
    }
    return out;
  }

  std::string tail() const {
    if (text_.size() <= 40) return text_;
    std::string t = "...";
    t.append(text_, text_.size() - 40, 40);
    return t;
  }

  std::shared_ptr<Grammar> g_;
  MatchState state_;
  std::string text_;
  bool ended_ = false;
  bool jump_forward_ = true;
  std::shared_ptr<ConstraintStats> stats_;  // shared with the clones
};

MatcherOptions matcher_options(const ConstraintOptions& o) {
  MatcherOptions m;
  m.max_whitespace = o.max_whitespace;
  m.max_depth = o.max_depth;
  return m;
}

// Grammars are shared by constraints of the same schema, vocabulary and options, so that the
// shapes, automata and mask caches built for one request serve the next.
std::shared_ptr<Grammar> shared_grammar(const std::shared_ptr<const Schema>& schema,
                                        const std::shared_ptr<const TokenIndex>& index,
                                        const MatcherOptions& m) {
  static std::mutex mu;
  static std::map<std::tuple<const Schema*, const TokenIndex*, int32_t, int32_t>,
                  std::weak_ptr<Grammar>>
      cache;
  std::lock_guard<std::mutex> lock(mu);
  auto key = std::make_tuple(schema.get(), index.get(), m.max_whitespace, m.max_depth);
  if (auto g = cache[key].lock()) return g;
  for (auto it = cache.begin(); it != cache.end();) {
    it = it->second.expired() ? cache.erase(it) : std::next(it);
  }
  auto g = std::make_shared<Grammar>(schema, schema->impl().compiled, index, m);
  cache[key] = g;
  return g;
}

const std::shared_ptr<const Schema>& true_schema() {
  static const std::shared_ptr<const Schema> s = *Schema::compile("true");
  return s;
}

}  // namespace

Result<std::unique_ptr<TextConstraint>> json_constraint(std::shared_ptr<const Schema> schema,
                                                        std::shared_ptr<const TokenIndex> index,
                                                        const ConstraintOptions& options) {
  if (!schema || !index) return invalid_argument("json_constraint needs a schema and a vocabulary");
  auto g = shared_grammar(schema, index, matcher_options(options));
  auto s = MatchState::start(g->table(), g->options());
  if (!s.ok()) return s.status();
  return std::unique_ptr<TextConstraint>(
      new GrammarConstraint(std::move(g), std::move(*s), options.jump_forward));
}

Result<std::unique_ptr<TextConstraint>> any_json_constraint(std::shared_ptr<const TokenIndex> index,
                                                            const ConstraintOptions& options) {
  return json_constraint(true_schema(), std::move(index), options);
}

Result<std::unique_ptr<TextConstraint>> regex_constraint(std::string_view pattern,
                                                         std::shared_ptr<const TokenIndex> index) {
  if (!index) return invalid_argument("regex_constraint needs a vocabulary");
  auto dfa = regex_full_dfa(pattern);
  if (!dfa.ok()) return dfa.status();
  if (dfa->empty())
    return invalid_argument("the pattern '" + std::string(pattern) + "' matches no string");
  MatcherOptions m;
  m.raw = true;
  auto g =
      std::make_shared<Grammar>(true_schema(), true_schema()->impl().compiled, std::move(index), m);
  g->table().set_raw_root(std::move(*dfa));
  auto s = MatchState::start(g->table(), g->options());
  if (!s.ok()) return s.status();
  return std::unique_ptr<TextConstraint>(new GrammarConstraint(std::move(g), std::move(*s), true));
}

}  // namespace troika::constrain
