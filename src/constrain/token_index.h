// The vocabulary trie behind TokenIndex: every token's bytes, children stored contiguously so a
// walk touches memory in order.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "troika/constrain.h"

namespace troika::constrain {

struct Trie {
  struct Node {
    uint32_t child_begin = 0;  // into edge_byte / edge_child
    uint32_t n_children = 0;
    uint32_t token_begin = 0;  // into tokens
    uint32_t n_tokens = 0;     // tokens whose text ends exactly here
    uint32_t parent = 0;
    uint8_t byte = 0;  // the edge from the parent
  };
  std::vector<Node> nodes;  // nodes[0] is the root (the empty prefix)
  std::vector<uint8_t> edge_byte;
  std::vector<uint32_t> edge_child;
  std::vector<int32_t> tokens;

  void build(const std::vector<std::string>& pieces);
  // The bytes from the root to `node`.
  std::string path(uint32_t node) const;
};

// The tokens a lexeme's DFA keeps inside from one state, and the trie edges where it ends there:
// a function of the DFA's language and the vocabulary only, so shared by every grammar.
struct LexEntry {
  struct Exit {
    int32_t q;                    // the DFA state before the edge
    uint8_t byte;                 // the edge's byte
    std::vector<uint32_t> nodes;  // trie nodes reached by that edge
    std::vector<int32_t> tokens;  // the tokens ending at those nodes
    std::vector<uint32_t> inner;  // those of the nodes that have children
  };
  std::vector<uint32_t> inside;  // mask words
  std::vector<Exit> exits;
};

struct TokenIndex::Impl {
  std::shared_ptr<const engine::Model> model;  // null when built from pieces
  std::vector<std::string> pieces;
  std::vector<engine::Token> eog;
  std::vector<uint8_t> is_eog;
  size_t longest_piece = 0;  // bytes
  Trie trie;
  // LexEntry cache keyed by (DFA content fingerprint, state); bounded, cleared when full.
  mutable std::mutex lex_mu;
  mutable std::unordered_map<uint64_t, std::shared_ptr<const LexEntry>> lex_cache;
};

}  // namespace troika::constrain
