// Grammar: a ShapeTable bound to a vocabulary, and the token-mask computation over its trie.
//
// A mask is the set of tokens whose bytes the matcher accepts from the current state. It is
// computed by walking the vocabulary trie, stepping a copy of the state per trie edge; inside a
// scalar or key (one DFA), the walk steps the DFA alone, without copies. Two caches make the
// common cases cheap:
//  - per (DFA, state): the tokens that stay inside the lexeme (a bitset, context-independent)
//    and the trie edges where the lexeme ends (re-walked against the context each time);
//  - per whole state fingerprint: the finished mask, when computing it read no document text.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "matcher.h"
#include "token_index.h"

namespace troika::constrain {

class Grammar {
 public:
  Grammar(std::shared_ptr<const void> owner, const CompiledSchema& schema,
          std::shared_ptr<const TokenIndex> index, const MatcherOptions& options);

  ShapeTable& table() { return table_; }
  const TokenIndex& index() const { return *index_; }
  const MatcherOptions& options() const { return options_; }

  // Sets the bits of `words` ([n_vocab / 32], zeroed by the caller) for the tokens allowed after
  // `text` in state `s`, end-of-generation tokens included when the document may end. Returns
  // true when the mask came from the state cache.
  bool fill(const MatchState& s, std::string& text, uint32_t* words);

  // The bytes every valid continuation starts with (jump-forward), up to `max_bytes`.
  std::string forced_bytes(const MatchState& s, std::string& text, size_t max_bytes);

 private:
  using Exit = LexEntry::Exit;
  const LexEntry& lex(int32_t dfa, int32_t q);
  void lex_dfs(LexEntry& e, const Dfa& dfa, int32_t d, uint32_t node, int32_t q);
  void walk(uint32_t node, size_t depth, std::string& text, uint32_t* words);
  void walk_lex(uint32_t node, size_t depth, const MatchState::Lexeme& lx, int32_t q, size_t from,
                std::string& text, uint32_t* words);
  bool materialize(size_t depth, const MatchState::Lexeme& lx, int32_t q, size_t from,
                   std::string& text);
  void mark(uint32_t node, uint32_t* words) const;
  MatchState& state(size_t depth);

  std::shared_ptr<const void> owner_;  // keeps the schema alive
  ShapeTable table_;
  std::shared_ptr<const TokenIndex> index_;
  const Trie& trie_;
  MatcherOptions options_;
  std::vector<MatchState> states_;  // one per walk depth, reused
  bool used_text_ = false;
  std::unordered_map<uint64_t, std::shared_ptr<const LexEntry>> lex_;
  std::unordered_map<std::string, std::vector<uint32_t>> masks_;
  std::string key_;  // scratch fingerprint
};

}  // namespace troika::constrain
