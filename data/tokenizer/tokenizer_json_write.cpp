// tokenizer_json_write.cpp — Tokenizer::to_tokenizer_json: our tokenizer as an HF tokenizer.json.
//
// Holds: the Tokenizer::Impl -> JSON mapping, the inverse of tokenizer_json.cpp: model BPE (vocab
// in id order, merges as ["a", "b"] pairs, unk_token / fuse_unk / ignore_merges), added_tokens
// with all five flags in the order we match them, normalizer (NFC or null), pre_tokenizer (the
// steps we run, one step bare, several as a Sequence), post_processor (TemplateProcessing with
// what encode(text, true) adds around the text), decoder (ByteLevel or null).
// What it describes is what we run, whatever the tokenizer came from: a tokenizer built from a
// GGUF's tokenizer.ggml.pre = "smollm" keeps SmolLM2's Digits step, which transformers' own GGUF
// conversion drops (tokenizer_spec.cpp).
// Does not hold: tokenizer_config.json (the export writes it: checkpoints/export_hf.cpp).
#include <algorithm>
#include <nlohmann/json.hpp>

#include "data/tokenizer/tokenizer_impl.h"
#include "train/core/error.h"

namespace slm {
namespace {

using ojson = nlohmann::ordered_json;

const char* behavior_name(tok::SplitBehavior b) {
  switch (b) {
    case tok::SplitBehavior::Removed: return "Removed";
    case tok::SplitBehavior::Isolated: return "Isolated";
    case tok::SplitBehavior::MergedWithPrevious: return "MergedWithPrevious";
    case tok::SplitBehavior::MergedWithNext: return "MergedWithNext";
    case tok::SplitBehavior::Contiguous: return "Contiguous";
  }
  return "Isolated";
}

ojson pre_tokenizer_step(const tok::PreTokenizerStep& step) {
  ojson j = ojson::object();
  switch (step.kind) {
    case tok::PreTokenizerStep::Kind::Split:
      j["type"] = "Split";
      j["pattern"] = step.regex ? ojson{{"Regex", step.regex->pattern()}} : ojson{{"String", step.literal}};
      j["behavior"] = behavior_name(step.behavior);
      j["invert"] = step.invert;
      break;
    case tok::PreTokenizerStep::Kind::Digits:
      j["type"] = "Digits";
      j["individual_digits"] = step.individual_digits;
      break;
    case tok::PreTokenizerStep::Kind::ByteLevel:
      j["type"] = "ByteLevel";
      j["add_prefix_space"] = step.add_prefix_space;
      j["trim_offsets"] = true;  // offsets only; ids do not depend on it
      j["use_regex"] = step.use_regex;
      break;
  }
  return j;
}

ojson pre_tokenizer(const std::vector<tok::PreTokenizerStep>& steps) {
  if (steps.empty()) return nullptr;
  if (steps.size() == 1) return pre_tokenizer_step(steps[0]);
  ojson list = ojson::array();
  for (const auto& step : steps) list.push_back(pre_tokenizer_step(step));
  return ojson{{"type", "Sequence"}, {"pretokenizers", std::move(list)}};
}

// TemplateProcessing: single = prefix $A suffix; pair = prefix $A suffix prefix $B suffix (type 1).
// Each special token is named by its content, as HF's own files do.
ojson post_processor(const Tokenizer::Impl& m) {
  ojson special_tokens = ojson::object();
  auto piece = [&](std::int32_t id, int type_id) {
    const std::string& name = m.id_to_token[static_cast<std::size_t>(id)];
    SLM_CHECK(!name.empty(), "tokenizer (", m.source, "): the post-processor adds id ", id,
              ", which has no token; the tokenizer is inconsistent");
    special_tokens[name] = ojson{{"id", name}, {"ids", {id}}, {"tokens", {name}}};
    return ojson{{"SpecialToken", {{"id", name}, {"type_id", type_id}}}};
  };
  auto sequence = [](const char* id, int type_id) { return ojson{{"Sequence", {{"id", id}, {"type_id", type_id}}}}; };
  ojson single = ojson::array(), pair = ojson::array();
  for (int type_id = 0; type_id < 2; ++type_id) {
    ojson& out = type_id == 0 ? single : pair;
    for (int part = 0; part <= type_id; ++part) {
      for (std::int32_t id : m.prefix_ids) out.push_back(piece(id, part));
      out.push_back(sequence(part == 0 ? "A" : "B", part));
      for (std::int32_t id : m.suffix_ids) out.push_back(piece(id, part));
    }
  }
  return ojson{{"type", "TemplateProcessing"}, {"single", std::move(single)}, {"pair", std::move(pair)},
               {"special_tokens", std::move(special_tokens)}};
}

ojson added_tokens(const Tokenizer::Impl& m) {
  ojson list = ojson::array();
  for (const tok::AddedToken& t : m.added)
    list.push_back(ojson{{"id", t.id}, {"content", t.content}, {"single_word", t.single_word}, {"lstrip", t.lstrip},
                         {"rstrip", t.rstrip}, {"normalized", t.normalized}, {"special", t.special}});
  return list;
}

// The "model" object, written by hand: the vocabulary in id order (HF's own order; an
// ordered_json object would look up every key linearly on insert, quadratic for 128k tokens).
std::string bpe_model_text(const tok::Bpe& bpe) {
  std::vector<std::pair<std::int32_t, const std::string*>> vocab;
  vocab.reserve(bpe.vocab().size());
  for (const auto& [token, id] : bpe.vocab()) vocab.emplace_back(id, &token);
  std::sort(vocab.begin(), vocab.end(),
            [](const auto& a, const auto& b) { return a.first != b.first ? a.first < b.first : *a.second < *b.second; });
  ojson unk = nullptr;
  if (auto unk_id = bpe.unk_id())
    for (const auto& [id, token] : vocab)
      if (id == *unk_id) {
        unk = *token;
        break;
      }
  std::string out = "{\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": " + unk.dump() +
                    ",\n    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n    \"fuse_unk\": " +
                    (bpe.fuse_unk() ? "true" : "false") + ",\n    \"byte_fallback\": false,\n    \"ignore_merges\": " +
                    (bpe.ignore_merges() ? "true" : "false") + ",\n    \"vocab\": {";
  for (std::size_t i = 0; i < vocab.size(); ++i)
    out += (i ? ",\n      " : "\n      ") + ojson(*vocab[i].second).dump() + ": " + std::to_string(vocab[i].first);
  out += vocab.empty() ? "},\n    \"merges\": [" : "\n    },\n    \"merges\": [";
  const auto& merges = bpe.merges();
  for (std::size_t i = 0; i < merges.size(); ++i)
    out += (i ? ",\n      " : "\n      ") + ojson::array({merges[i].first, merges[i].second}).dump();
  out += merges.empty() ? "]\n  }" : "\n    ]\n  }";
  return out;
}

}  // namespace

std::string Tokenizer::to_tokenizer_json() const {
  const Impl& m = *impl_;
  ojson root = ojson::object();
  root["version"] = "1.0";
  root["truncation"] = nullptr;
  root["padding"] = nullptr;
  root["added_tokens"] = added_tokens(m);
  root["normalizer"] = m.nfc ? ojson{{"type", "NFC"}} : ojson(nullptr);
  root["pre_tokenizer"] = pre_tokenizer(m.pre_steps);
  root["post_processor"] = post_processor(m);
  root["decoder"] = m.decoder == Impl::Decoder::ByteLevel
                        ? ojson{{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}
                        : ojson(nullptr);
  try {
    // "model" goes last, as in HF's files: replace the closing "\n}" of the dump.
    std::string text = root.dump(2);
    text.resize(text.size() - 2);
    return text + ",\n  \"model\": " + bpe_model_text(*m.model) + "\n}\n";
  } catch (const nlohmann::json::exception& e) {  // invalid UTF-8 in a token (the loaders reject it)
    SLM_FAIL("tokenizer (", m.source, "): cannot write tokenizer.json: ", e.what());
  }
}

}  // namespace slm
