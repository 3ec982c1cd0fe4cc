// tokenizer_impl.h — the parts a Tokenizer is assembled from; shared by the two loaders and
// tokenizer.cpp. Internal to data/tokenizer.
//
// Holds: Tokenizer::Impl (model, added tokens, normalizer, pre-tokenizer steps, post-processor
// ids, decoder, special ids) and finish_impl, which derives lookups once the loader filled it.
// Does not hold: parsing (tokenizer_json.cpp, tokenizer_spec.cpp) or encoding (tokenizer.cpp).
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/tokenizer/added_tokens.h"
#include "data/tokenizer/bpe.h"
#include "data/tokenizer/pretokenizer.h"
#include "data/tokenizer/tokenizer.h"

namespace slm {

struct Tokenizer::Impl {
  std::string source;                 // file named in errors
  std::unique_ptr<tok::Bpe> model;
  std::vector<tok::AddedToken> added;  // in id order of the file
  bool nfc = false;                    // normalizer: NFC or none
  std::vector<tok::PreTokenizerStep> pre_steps;
  std::vector<std::int32_t> prefix_ids, suffix_ids;  // what encode(text, true) adds
  enum class Decoder { ByteLevel, None } decoder = Decoder::ByteLevel;
  std::int32_t bos = -1, eos = -1, eot = -1, pad = -1;

  // Derived by finish_impl.
  tok::AddedTokenSplitter raw_splitter, normalized_splitter;
  std::vector<std::string> id_to_token;  // "" for holes
  std::vector<char> special;             // per id
  std::unordered_map<std::string, std::int32_t> added_by_content;
  std::string hash;
};

// Builds the splitters, the id tables and the hash; picks eot from well-known names when unset.
void finish_impl(Tokenizer::Impl& impl);

}  // namespace slm
