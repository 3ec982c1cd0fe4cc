// added_tokens.cpp — trie matching of added tokens and HF's rules around a match (see added_tokens.h).
//
// Does not hold: which tokens are added (the loaders decide) or what happens to text pieces.
#include "data/tokenizer/added_tokens.h"

#include "data/tokenizer/utf8.h"

namespace slm::tok {
namespace {

// HF's ends_with_word / starts_with_word: the neighbouring character is alphanumeric or '_'.
bool is_word_char(char32_t c) { return c == U'_' || is_alphanumeric(c); }

}  // namespace

AddedTokenSplitter::AddedTokenSplitter(std::vector<AddedToken> tokens) : tokens_(std::move(tokens)) {
  nodes_.emplace_back();
  root_child_.assign(256, -1);
  for (std::size_t t = 0; t < tokens_.size(); ++t) {
    const std::string& s = tokens_[t].content;
    if (s.empty()) continue;
    int node = 0;
    for (std::size_t k = 0; k < s.size(); ++k) {
      unsigned char b = static_cast<unsigned char>(s[k]);
      int child = -1;
      if (node == 0) {
        child = root_child_[b];
      } else {
        for (auto& [byte, index] : nodes_[node].children)
          if (byte == b) child = index;
      }
      if (child < 0) {
        child = static_cast<int>(nodes_.size());
        nodes_.emplace_back();
        if (node == 0) root_child_[b] = child;
        else nodes_[node].children.emplace_back(b, child);
      }
      node = child;
    }
    nodes_[node].token = static_cast<int>(t);  // a duplicate content: the later token wins
  }
}

int AddedTokenSplitter::longest_at(std::string_view text, std::size_t pos, std::size_t& end) const {
  int node = root_child_[static_cast<unsigned char>(text[pos])];
  int found = -1;
  std::size_t k = pos + 1;
  while (node >= 0) {
    if (nodes_[node].token >= 0) {
      found = nodes_[node].token;
      end = k;
    }
    if (k >= text.size()) break;
    unsigned char b = static_cast<unsigned char>(text[k]);
    int next = -1;
    for (auto& [byte, index] : nodes_[node].children)
      if (byte == b) next = index;
    node = next;
    ++k;
  }
  return found;
}

std::vector<AddedTokenSplitter::Match> AddedTokenSplitter::find_all(std::string_view text) const {
  std::vector<Match> matches;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = 0;
    int token = root_child_[static_cast<unsigned char>(text[pos])] < 0 ? -1 : longest_at(text, pos, end);
    if (token < 0) {
      ++pos;
      continue;
    }
    matches.push_back({pos, end, token});
    pos = end;
  }
  return matches;
}

std::vector<Piece> AddedTokenSplitter::split(std::string_view text) const {
  if (text.empty() || tokens_.empty()) return {Piece{0, text.size(), -1}};
  std::vector<Piece> pieces;
  std::size_t start_offset = 0;
  for (const Match& m : find_all(text)) {
    const AddedToken& token = tokens_[m.token];
    std::size_t start = m.begin, stop = m.end;
    if (token.single_word) {
      std::size_t before = start, after = stop;
      bool start_space = start == 0 || !is_word_char(previous_code_point(text, before));
      bool stop_space = stop == text.size() || !is_word_char(next_code_point(text, after));
      if (!start_space || !stop_space) continue;
    }
    if (token.lstrip) {
      // Back over whitespace, but never before the end of the previous piece.
      std::size_t at = start;
      while (at > 0) {
        std::size_t prev = at;
        if (!is_white_space(previous_code_point(text, prev))) break;
        at = prev;
      }
      start = std::max(at, start_offset);
    }
    if (token.rstrip) {
      while (stop < text.size()) {
        std::size_t next = stop;
        if (!is_white_space(next_code_point(text, next))) break;
        stop = next;
      }
    }
    if (start > start_offset) pieces.push_back({start_offset, start, -1});
    pieces.push_back({start, stop, token.id});
    start_offset = stop;
  }
  if (start_offset < text.size()) pieces.push_back({start_offset, text.size(), -1});
  return pieces;
}

}  // namespace slm::tok
