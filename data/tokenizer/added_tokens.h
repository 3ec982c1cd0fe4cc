// added_tokens.h — added (special and user) tokens and how HF cuts them out of text.
//
// Holds: AddedToken (HF's flags), AddedTokenSplitter (leftmost-longest matching over a byte trie,
// then HF's single_word / lstrip / rstrip rules), producing text pieces and token pieces.
// Does not hold: normalization or pre-tokenization of the text pieces (tokenizer.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace slm::tok {

struct AddedToken {
  std::int32_t id = -1;
  std::string content;
  bool special = false;
  bool lstrip = false;       // swallow whitespace before the token
  bool rstrip = false;       // swallow whitespace after the token
  bool normalized = false;   // matched in normalized text (after the normalizer), not in raw text
  bool single_word = false;  // only match when not inside a word
};

// One piece of a split: a text range [begin, end) of the input, and the token id when the range
// is an added token (-1 for text that goes on to the normalizer / pre-tokenizer / model).
struct Piece {
  std::size_t begin, end;
  std::int32_t id;
};

class AddedTokenSplitter {
 public:
  AddedTokenSplitter() = default;
  // `tokens` are the ones this splitter matches (HF keeps one set for raw text and one for
  // normalized text); tokens with empty content never match.
  explicit AddedTokenSplitter(std::vector<AddedToken> tokens);

  bool empty() const { return tokens_.empty(); }

  // Splits `text` (valid UTF-8) into pieces covering it, as HF's AddedVocabulary::find_matches.
  std::vector<Piece> split(std::string_view text) const;

 private:
  struct Match {
    std::size_t begin, end;
    int token;  // index into tokens_
  };
  std::vector<Match> find_all(std::string_view text) const;  // leftmost-longest, non-overlapping
  int longest_at(std::string_view text, std::size_t pos, std::size_t& end) const;

  struct Node {
    std::vector<std::pair<unsigned char, int>> children;
    int token = -1;  // index of the token ending here
  };
  std::vector<AddedToken> tokens_;
  std::vector<Node> nodes_;  // nodes_[0] is the root
  std::vector<int> root_child_;  // byte -> node index, -1 when no token starts with that byte
};

}  // namespace slm::tok
