// The tokenizer of a checkpoint folder, as llama.cpp's GGUF vocabulary: byte-level BPE from
// tokenizer.json (the pre-tokenizer identified from the file's own split regex), or
// SentencePiece from tokenizer.model (read with the SentencePiece library; piece types and the
// normalizer's add_dummy_prefix from the model proto), plus added tokens, special token ids
// and the chat template.
#pragma once

#include <string>
#include <vector>

#include "convert/checkpoint.h"

struct gguf_context;

namespace troika::convert {

// llama.cpp's token types (llama_token_type).
enum TokenType : int32_t {
  kTokNormal = 1, kTokUnknown = 2, kTokControl = 3, kTokUserDefined = 4, kTokUnused = 5, kTokByte = 6,
};

struct Vocab {
  std::string model;  // tokenizer.ggml.model: "gpt2" (byte-level BPE) or "llama" (SentencePiece)
  std::string pre;    // tokenizer.ggml.pre: "llama-bpe", "default", ...
  std::vector<std::string> tokens;
  std::vector<float> scores;  // SentencePiece only
  std::vector<int32_t> types;
  std::vector<std::string> merges;  // BPE only: "a b"
  int32_t bos = -1, eos = -1, eot = -1, eom = -1, unk = -1, pad = -1;
  int add_bos = -1, add_eos = -1, add_space_prefix = -1, remove_extra_ws = -1;  // -1 = unset
  std::string chat_template;
  std::string source;  // "tokenizer.json (BPE, llama-bpe)", for the report
};

// Reads the tokenizer of `ck` for an embedding of n_vocab rows (the vocabulary is padded with
// unused tokens up to it). Errors: not_found (no tokenizer file), unimplemented (a
// pre-tokenizer or model type llama.cpp cannot reproduce, quoting it), data_loss.
Result<Vocab> read_vocab(const Checkpoint& ck, int64_t n_vocab);

void write_vocab_kv(const Vocab& v, gguf_context* g);

}  // namespace troika::convert
