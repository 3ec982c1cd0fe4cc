// export_gguf_tokenizer.h — a GGUF's tokenizer metadata (tokenizer.ggml.*, tokenizer.chat_template)
// built from a Hugging Face model directory, the way llama.cpp's convert_hf_to_gguf.py writes it
// for byte-level BPE tokenizers (model "gpt2").
//
// What it writes and where each value comes from:
//   tokenizer.ggml.model        "gpt2" (tokenizer.json's model must be byte-level BPE)
//   tokenizer.ggml.pre          named from tokenizer.json's pre_tokenizer by its structure:
//                               ByteLevel alone -> "gpt2"; Digits(individual) + ByteLevel ->
//                               "smollm"; Split(Llama 3's regex) + ByteLevel -> "llama-bpe";
//                               Split(Qwen 2's regex) + ByteLevel -> "qwen2". llama.cpp names the
//                               pre-tokenizer by hashing a test string's tokens; these four are
//                               the names it gives those structures, and the ones
//                               Tokenizer::from_spec reads. Anything else is an error.
//   tokenizer.ggml.tokens       by id, for ids [0, vocab_size of config.json): vocabulary tokens
//                               as spelled in tokenizer.json, added tokens by content, holes as
//                               "[PAD<id>]"
//   tokenizer.ggml.token_type   1 normal, 3 control (special added tokens and ones that look
//                               special, "<|...|>"), 4 user-defined (other added tokens), 5 unused
//   tokenizer.ggml.merges       "a b"; pairs with spaces inside spell them U+0120 as gguf-py does
//   tokenizer.ggml.*_token_id   bos / eos / unk / sep / pad / cls / mask from tokenizer_config.json
//                               (looked up among the added tokens), else from config.json
//   tokenizer.ggml.add_bos_token / add_eos_token  tokenizer_config.json's flags, else what the
//                               post-processor's template adds; add_bos is always written
//   tokenizer.chat_template     tokenizer_config.json's chat_template (named templates as
//                               tokenizer.chat_template.<name>), else chat_template.jinja / .json
// Does not hold: SentencePiece / Unigram / WordPiece tokenizers (an error), the GGUF writer.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "checkpoints/gguf.h"

namespace slm {

// Key/value pairs in convert_hf_to_gguf's order, for the directory `dir` holding tokenizer.json.
// vocab_size is the model's (embedding rows). Throws slm::Error naming the file and the key
// when the tokenizer cannot be expressed as a llama.cpp "gpt2" tokenizer.
std::vector<std::pair<std::string, GgufValue>> gguf_tokenizer_from_hf_dir(const std::filesystem::path& dir,
                                                                          std::int64_t vocab_size);

}  // namespace slm
