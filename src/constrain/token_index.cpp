#include "token_index.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <numeric>

namespace troika::constrain {

void Trie::build(const std::vector<std::string>& pieces) {
  std::vector<int32_t> order(pieces.size());
  std::iota(order.begin(), order.end(), 0);
  std::erase_if(order, [&](int32_t t) { return pieces[t].empty(); });
  std::sort(order.begin(), order.end(),
            [&](int32_t a, int32_t b) { return pieces[a] < pieces[b]; });
  nodes.assign(1, Node{});
  // Each work item is a node with its range of `order` (all sharing the node's prefix).
  struct Work {
    uint32_t node;
    size_t lo, hi, depth;
  };
  std::vector<Work> stack{{0, 0, order.size(), 0}};
  while (!stack.empty()) {
    Work w = stack.back();
    stack.pop_back();
    size_t i = w.lo;
    nodes[w.node].token_begin = static_cast<uint32_t>(tokens.size());
    while (i < w.hi && pieces[order[i]].size() == w.depth) tokens.push_back(order[i++]);
    nodes[w.node].n_tokens = static_cast<uint32_t>(tokens.size()) - nodes[w.node].token_begin;
    nodes[w.node].child_begin = static_cast<uint32_t>(edge_byte.size());
    std::vector<Work> children;
    while (i < w.hi) {
      uint8_t b = static_cast<uint8_t>(pieces[order[i]][w.depth]);
      size_t j = i;
      while (j < w.hi && static_cast<uint8_t>(pieces[order[j]][w.depth]) == b) ++j;
      uint32_t child = static_cast<uint32_t>(nodes.size());
      Node n;
      n.parent = w.node;
      n.byte = b;
      nodes.push_back(n);
      edge_byte.push_back(b);
      edge_child.push_back(child);
      children.push_back({child, i, j, w.depth + 1});
      i = j;
    }
    nodes[w.node].n_children = static_cast<uint32_t>(edge_byte.size()) - nodes[w.node].child_begin;
    for (auto it = children.rbegin(); it != children.rend(); ++it) stack.push_back(*it);
  }
}

std::string Trie::path(uint32_t node) const {
  std::string r;
  while (node != 0) {
    r.push_back(static_cast<char>(nodes[node].byte));
    node = nodes[node].parent;
  }
  std::reverse(r.begin(), r.end());
  return r;
}

TokenIndex::TokenIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TokenIndex::~TokenIndex() = default;

Result<std::shared_ptr<const TokenIndex>> TokenIndex::create(
    std::shared_ptr<const engine::Model> model) {
  if (!model) return invalid_argument("TokenIndex needs a model");
  std::vector<std::string> pieces(model->info().n_vocab);
  for (engine::Token t = 0; t < model->info().n_vocab; ++t) {
    // Control tokens render empty and so never match text; end-of-generation ones are added to
    // masks separately.
    pieces[t] = model->token_to_piece(t, false);
  }
  auto index = from_pieces(std::move(pieces), model->info().special.eog);
  const_cast<Impl&>(index->impl()).model = std::move(model);
  return index;
}

Result<std::shared_ptr<const TokenIndex>> TokenIndex::shared(
    std::shared_ptr<const engine::Model> model) {
  if (!model) return invalid_argument("TokenIndex needs a model");
  // The index holds its model, so a live entry's key cannot be reused by another model.
  static std::mutex mu;
  static std::map<const engine::Model*, std::weak_ptr<const TokenIndex>> cache;
  std::lock_guard<std::mutex> lock(mu);
  std::weak_ptr<const TokenIndex>& slot = cache[model.get()];
  if (auto live = slot.lock()) return live;
  TROIKA_ASSIGN_OR_RETURN(std::shared_ptr<const TokenIndex> index, create(std::move(model)));
  slot = index;
  return index;
}

std::shared_ptr<const TokenIndex> TokenIndex::from_pieces(std::vector<std::string> pieces,
                                                          std::vector<engine::Token> eog) {
  auto impl = std::make_unique<Impl>();
  impl->pieces = std::move(pieces);
  impl->is_eog.assign(impl->pieces.size(), 0);
  for (engine::Token t : eog) {
    if (t >= 0 && t < static_cast<engine::Token>(impl->pieces.size())) {
      impl->is_eog[t] = 1;
      impl->pieces[t].clear();  // never part of the text
      impl->eog.push_back(t);
    }
  }
  for (const auto& p : impl->pieces) impl->longest_piece = std::max(impl->longest_piece, p.size());
  impl->trie.build(impl->pieces);
  return std::shared_ptr<const TokenIndex>(new TokenIndex(std::move(impl)));
}

int32_t TokenIndex::n_vocab() const { return static_cast<int32_t>(impl_->pieces.size()); }
const std::string& TokenIndex::piece(engine::Token t) const { return impl_->pieces[t]; }
bool TokenIndex::is_eog(engine::Token t) const {
  return t >= 0 && t < n_vocab() && impl_->is_eog[t];
}
const std::vector<engine::Token>& TokenIndex::eog() const { return impl_->eog; }

}  // namespace troika::constrain
