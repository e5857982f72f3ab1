#include <algorithm>
#include <mutex>
#include <unordered_map>

#include "troika/schedule.h"

namespace troika::schedule {

namespace {
// Token texts of a model's vocabulary, computed once per model and shared.
std::shared_ptr<const std::vector<std::string>> vocab_pieces(const engine::Model& model) {
  static std::mutex mu;
  static std::unordered_map<const engine::Model*, std::weak_ptr<const std::vector<std::string>>>
      cache;
  std::lock_guard<std::mutex> lock(mu);
  if (auto p = cache[&model].lock()) return p;
  auto pieces = std::make_shared<std::vector<std::string>>(model.info().n_vocab);
  for (Token t = 0; t < model.info().n_vocab; ++t) (*pieces)[t] = model.token_to_piece(t, false);
  cache[&model] = pieces;
  return pieces;
}
}  // namespace

ChoiceConstraint::ChoiceConstraint(std::shared_ptr<const engine::Model> model,
                                   std::vector<std::string> choices,
                                   std::shared_ptr<const std::vector<std::string>> pieces)
    : model_(std::move(model)), choices_(std::move(choices)), pieces_(std::move(pieces)) {}

Result<std::unique_ptr<ChoiceConstraint>> ChoiceConstraint::create(
    std::shared_ptr<const engine::Model> model, std::vector<std::string> choices) {
  if (!model) return invalid_argument("ChoiceConstraint needs a model");
  if (choices.empty()) return invalid_argument("a choice constraint needs at least one choice");
  for (size_t i = 0; i < choices.size(); ++i) {
    if (choices[i].empty()) return invalid_argument("choice " + std::to_string(i) + " is empty");
  }
  auto pieces = vocab_pieces(*model);
  return std::unique_ptr<ChoiceConstraint>(
      new ChoiceConstraint(std::move(model), std::move(choices), std::move(pieces)));
}

bool ChoiceConstraint::is_choice(const std::string& s) const {
  return std::find(choices_.begin(), choices_.end(), s) != choices_.end();
}

void ChoiceConstraint::fill_mask(engine::TokenMask& mask) {
  if (ended_) return;
  const auto& pieces = *pieces_;
  for (Token t = 0; t < static_cast<Token>(pieces.size()); ++t) {
    const std::string& p = pieces[t];
    if (p.empty()) continue;
    for (const auto& c : choices_) {
      if (c.size() >= text_.size() + p.size() && c.compare(text_.size(), p.size(), p) == 0 &&
          c.compare(0, text_.size(), text_) == 0) {
        mask.allow(t);
        break;
      }
    }
  }
  if (is_choice(text_)) {
    for (Token t : model_->info().special.eog) mask.allow(t);
  }
}

Status ChoiceConstraint::advance(Token token) {
  if (model_->is_eog(token)) {
    if (!is_choice(text_)) {
      return invalid_argument("end of generation before a complete choice ('" + text_ + "')");
    }
    ended_ = true;
    return Status::Ok();
  }
  if (!model_->is_valid(token))
    return invalid_argument("token " + std::to_string(token) + " is not in the vocabulary");
  std::string next = text_ + (*pieces_)[token];
  bool ok = std::any_of(choices_.begin(), choices_.end(),
                        [&](const std::string& c) { return c.compare(0, next.size(), next) == 0; });
  if (!ok) {
    return invalid_argument("token " + std::to_string(token) + " ('" + (*pieces_)[token] +
                            "') leaves every choice after '" + text_ + "'");
  }
  text_ = std::move(next);
  return Status::Ok();
}

std::vector<Token> ChoiceConstraint::forced() {
  // One choice left and not yet complete: its remaining text is the only continuation.
  const std::string* only = nullptr;
  for (const auto& c : choices_) {
    if (c.compare(0, text_.size(), text_) != 0 || c.size() < text_.size()) continue;
    if (only) return {};
    only = &c;
  }
  if (!only || only->size() == text_.size()) return {};
  auto ids = model_->tokenize(only->substr(text_.size()), false, false);
  if (!ids.ok()) return {};
  // Keep only tokens whose text concatenates exactly to the remainder (tokenizers may add a
  // leading space marker; then sampling proceeds normally).
  std::string joined;
  for (Token t : *ids) joined += (*pieces_)[t];
  if (joined != only->substr(text_.size())) return {};
  return *ids;
}

bool ChoiceConstraint::done() const {
  if (ended_) return true;
  if (!is_choice(text_)) return false;
  // Complete, and no longer choice continues it: nothing more may follow.
  return std::none_of(choices_.begin(), choices_.end(), [&](const std::string& c) {
    return c.size() > text_.size() && c.compare(0, text_.size(), text_) == 0;
  });
}

std::unique_ptr<Constraint> ChoiceConstraint::clone() const {
  return std::unique_ptr<Constraint>(new ChoiceConstraint(*this));
}

}  // namespace troika::schedule
