// tokenizer_json.cpp — Tokenizer::from_tokenizer_json: reads HF tokenizer.json (+ tokenizer_config.json).
//
// Holds: the JSON -> Tokenizer::Impl mapping for model BPE, added_tokens, normalizer (null, NFC),
// pre_tokenizer (ByteLevel, Split, Digits, Sequence), post_processor (TemplateProcessing,
// ByteLevel, Sequence), decoder (ByteLevel, null). Everything else is an error naming the key.
// Does not hold: GGUF specs (tokenizer_spec.cpp), encoding (tokenizer.cpp).
#include <nlohmann/json.hpp>

#include "data/tokenizer/tokenizer_impl.h"
#include "train/core/error.h"
#include "train/core/files.h"

namespace slm {
namespace {

using nlohmann::json;

// Where we are in the file, for messages: "path: key".
struct Place {
  std::string file;
  std::string at(std::string_view key) const { return file + ": " + std::string(key); }
};

json parse_json(const std::string& text, const std::filesystem::path& path) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    std::size_t line = 1, column = 1, end = std::min<std::size_t>(e.byte > 0 ? e.byte - 1 : 0, text.size());
    for (std::size_t i = 0; i < end; ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    SLM_FAIL(path.string(), ":", line, ":", column, ": invalid JSON (", e.what(),
             "); the file is damaged: fetch or re-save it (tokenizers' Tokenizer.save)");
  }
}

const json& require(const json& obj, const char* key, const Place& place, std::string_view parent) {
  auto it = obj.find(key);
  SLM_CHECK(it != obj.end(), place.at(parent), ": missing key '", key,
            "'; this is not a Hugging Face tokenizer.json, or it is truncated");
  return *it;
}

bool flag(const json& obj, const char* key, bool fallback = false) {
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? fallback : it->get<bool>();
}

std::string type_of(const json& obj, const Place& place, std::string_view key) {
  SLM_CHECK(obj.is_object(), place.at(key), ": expected an object");
  auto it = obj.find("type");
  SLM_CHECK(it != obj.end() && it->is_string(), place.at(key), ": missing \"type\"");
  return it->get<std::string>();
}

std::vector<std::pair<std::string, std::string>> read_merges(const json& merges, const Place& place) {
  std::vector<std::pair<std::string, std::string>> out;
  SLM_CHECK(merges.is_array(), place.at("model.merges"), ": expected an array");
  out.reserve(merges.size());
  for (std::size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    if (m.is_string()) {  // the older "a b" form
      const std::string& s = m.get_ref<const std::string&>();
      auto space = s.find(' ');
      SLM_CHECK(space != std::string::npos && s.find(' ', space + 1) == std::string::npos,
                place.at("model.merges"), "[", i, "]: \"", s, "\" is not two tokens separated by one space");
      out.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else {
      SLM_CHECK(m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string(), place.at("model.merges"), "[",
                i, "]: expected \"a b\" or [\"a\", \"b\"]");
      out.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    }
  }
  return out;
}

std::unique_ptr<tok::Bpe> read_model(const json& root, const Place& place) {
  const json& model = require(root, "model", place, "top level");
  std::string type = model.contains("type") ? model["type"].get<std::string>() : "BPE";
  SLM_CHECK(type == "BPE", place.at("model.type"), ": '", type,
            "' is not supported; slmtune reads byte-level BPE tokenizers (GPT-2, Llama 3, Qwen, SmolLM)");
  auto dropout = model.find("dropout");
  SLM_CHECK(dropout == model.end() || dropout->is_null() || dropout->get<double>() == 0.0, place.at("model.dropout"),
            ": BPE dropout makes encoding random; set it to null");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto it = model.find(key);
    SLM_CHECK(it == model.end() || it->is_null() || it->get<std::string>().empty(), place.at("model."),
              key, ": not supported by slmtune (byte-level BPE has none); set it to null");
  }
  SLM_CHECK(!flag(model, "byte_fallback"), place.at("model.byte_fallback"),
            ": byte_fallback (SentencePiece-style BPE) is not supported yet");
  tok::BpeConfig config;
  const json& vocab = require(model, "vocab", place, "model");
  SLM_CHECK(vocab.is_object(), place.at("model.vocab"), ": expected an object of token -> id");
  config.vocab.reserve(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    SLM_CHECK(it.value().is_number_integer() && it.value().get<std::int64_t>() >= 0, place.at("model.vocab"),
              "[\"", it.key(), "\"]: expected a non-negative integer id");
    config.vocab[it.key()] = it.value().get<std::int32_t>();
  }
  config.merges = read_merges(require(model, "merges", place, "model"), place);
  if (auto unk = model.find("unk_token"); unk != model.end() && !unk->is_null()) config.unk_token = unk->get<std::string>();
  config.fuse_unk = flag(model, "fuse_unk");
  config.ignore_merges = flag(model, "ignore_merges");
  return std::make_unique<tok::Bpe>(std::move(config), place.at("model"));
}

std::vector<tok::AddedToken> read_added(const json& root, const Place& place) {
  std::vector<tok::AddedToken> out;
  auto it = root.find("added_tokens");
  if (it == root.end() || it->is_null()) return out;
  for (std::size_t i = 0; i < it->size(); ++i) {
    const json& t = (*it)[i];
    SLM_CHECK(t.is_object() && t.contains("id") && t.contains("content"), place.at("added_tokens"), "[", i,
              "]: expected an object with \"id\" and \"content\"");
    tok::AddedToken a;
    a.id = t["id"].get<std::int32_t>();
    a.content = t["content"].get<std::string>();
    a.special = flag(t, "special");
    a.lstrip = flag(t, "lstrip");
    a.rstrip = flag(t, "rstrip");
    a.normalized = flag(t, "normalized", !a.special);
    a.single_word = flag(t, "single_word");
    out.push_back(std::move(a));
  }
  return out;
}

bool read_normalizer(const json& n, const Place& place, std::string_view key) {
  if (n.is_null()) return false;
  std::string type = type_of(n, place, key);
  if (type == "NFC") return true;
  if (type == "Sequence") {
    bool nfc = false;
    const json& list = require(n, "normalizers", place, key);
    for (std::size_t i = 0; i < list.size(); ++i)
      nfc = read_normalizer(list[i], place, std::string(key) + ".normalizers[" + std::to_string(i) + "]") || nfc;
    return nfc;
  }
  SLM_FAIL(place.at(key), ": normalizer '", type, "' is not supported (only NFC or none)");
}

tok::SplitBehavior read_behavior(const json& step, const Place& place, std::string_view key) {
  std::string b = require(step, "behavior", place, key).get<std::string>();
  if (b == "Removed") return tok::SplitBehavior::Removed;
  if (b == "Isolated") return tok::SplitBehavior::Isolated;
  if (b == "MergedWithPrevious") return tok::SplitBehavior::MergedWithPrevious;
  if (b == "MergedWithNext") return tok::SplitBehavior::MergedWithNext;
  if (b == "Contiguous") return tok::SplitBehavior::Contiguous;
  SLM_FAIL(place.at(key), ".behavior: unknown '", b,
           "'; expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous");
}

void read_pre_tokenizer(const json& p, const Place& place, const std::string& key, std::vector<tok::PreTokenizerStep>& steps) {
  if (p.is_null()) return;
  std::string type = type_of(p, place, key);
  tok::PreTokenizerStep step;
  if (type == "Sequence") {
    const json& list = require(p, "pretokenizers", place, key);
    for (std::size_t i = 0; i < list.size(); ++i)
      read_pre_tokenizer(list[i], place, key + ".pretokenizers[" + std::to_string(i) + "]", steps);
    return;
  } else if (type == "ByteLevel") {
    step.kind = tok::PreTokenizerStep::Kind::ByteLevel;
    step.add_prefix_space = flag(p, "add_prefix_space");
    step.use_regex = flag(p, "use_regex", true);
  } else if (type == "Digits") {
    step.kind = tok::PreTokenizerStep::Kind::Digits;
    step.individual_digits = flag(p, "individual_digits");
  } else if (type == "Split") {
    step.kind = tok::PreTokenizerStep::Kind::Split;
    const json& pattern = require(p, "pattern", place, key);
    if (pattern.contains("Regex")) step.regex = std::make_shared<const tok::Regex>(pattern["Regex"].get<std::string>(), place.at(key + ".pattern"));
    else if (pattern.contains("String")) step.literal = pattern["String"].get<std::string>();
    else SLM_FAIL(place.at(key), ".pattern: expected {\"Regex\": ...} or {\"String\": ...}");
    step.behavior = read_behavior(p, place, key);
    step.invert = flag(p, "invert");
  } else {
    SLM_FAIL(place.at(key), ": pre-tokenizer '", type,
             "' is not supported (ByteLevel, Split, Digits and Sequence are)");
  }
  steps.push_back(std::move(step));
}

// Fills what encode(text, add_special = true) adds around the text.
void read_post_processor(const json& p, const Place& place, const std::string& key, Tokenizer::Impl& impl) {
  if (p.is_null()) return;
  std::string type = type_of(p, place, key);
  if (type == "ByteLevel") return;  // only trims offsets; adds no tokens
  if (type == "Sequence") {
    const json& list = require(p, "processors", place, key);
    for (std::size_t i = 0; i < list.size(); ++i)
      read_post_processor(list[i], place, key + ".processors[" + std::to_string(i) + "]", impl);
    return;
  }
  SLM_CHECK(type == "TemplateProcessing", place.at(key), ": post-processor '", type,
            "' is not supported (TemplateProcessing, ByteLevel and Sequence are)");
  const json& single = require(p, "single", place, key);
  const json& specials = require(p, "special_tokens", place, key);
  bool after_sequence = false;
  for (const json& item : single) {
    if (item.contains("Sequence")) {
      after_sequence = true;
      continue;
    }
    std::string name = require(item, "SpecialToken", place, key + ".single")["id"].get<std::string>();
    SLM_CHECK(specials.contains(name), place.at(key), ".single: '", name, "' is not in special_tokens");
    for (const json& id : specials[name]["ids"]) (after_sequence ? impl.suffix_ids : impl.prefix_ids).push_back(id.get<std::int32_t>());
  }
}

void read_decoder(const json& d, const Place& place, Tokenizer::Impl& impl) {
  if (d.is_null()) {
    impl.decoder = Tokenizer::Impl::Decoder::None;
    return;
  }
  std::string type = type_of(d, place, "decoder");
  SLM_CHECK(type == "ByteLevel", place.at("decoder"), ": decoder '", type, "' is not supported (only ByteLevel)");
  impl.decoder = Tokenizer::Impl::Decoder::ByteLevel;
}

// tokenizer_config.json names the bos / eos / pad tokens as strings or {"content": ...}.
std::int32_t config_token(const json& config, const char* key, const Tokenizer::Impl& impl) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return -1;
  std::string name = it->is_object() ? it->value("content", "") : it->is_string() ? it->get<std::string>() : "";
  if (auto a = impl.added_by_content.find(name); a != impl.added_by_content.end()) return a->second;
  if (auto v = impl.model->vocab().find(name); v != impl.model->vocab().end()) return v->second;
  return -1;
}

void read_special_ids(const std::filesystem::path& path, Tokenizer::Impl& impl) {
  auto config_path = path.parent_path() / "tokenizer_config.json";
  if (std::filesystem::exists(config_path)) {
    json config = parse_json(read_file(config_path, "tokenizer_config.json"), config_path);
    impl.bos = config_token(config, "bos_token", impl);
    impl.eos = config_token(config, "eos_token", impl);
    impl.pad = config_token(config, "pad_token", impl);
  }
  if (impl.bos < 0 && impl.prefix_ids.size() == 1) impl.bos = impl.prefix_ids[0];
  for (std::string_view name : {"<|end_of_text|>", "<|endoftext|>", "</s>", "<eos>"}) {
    if (impl.eos >= 0) break;
    if (auto a = impl.added_by_content.find(std::string(name)); a != impl.added_by_content.end()) impl.eos = a->second;
  }
}

}  // namespace

Tokenizer Tokenizer::from_tokenizer_json(const std::filesystem::path& path) {
  Place place{path.string()};
  json root = parse_json(read_file(path, "tokenizer.json"), path);
  SLM_CHECK(root.is_object(), place.at("top level"), ": expected a JSON object");
  auto impl = std::make_unique<Impl>();
  impl->source = path.string();
  try {
    impl->model = read_model(root, place);
    impl->added = read_added(root, place);
    impl->nfc = read_normalizer(root.value("normalizer", json()), place, "normalizer");
    read_pre_tokenizer(root.value("pre_tokenizer", json()), place, "pre_tokenizer", impl->pre_steps);
    read_post_processor(root.value("post_processor", json()), place, "post_processor", *impl);
    read_decoder(root.value("decoder", json()), place, *impl);
  } catch (const json::exception& e) {  // a value of the wrong JSON type somewhere
    SLM_FAIL(place.file, ": unexpected value (", e.what(), "); the file does not follow tokenizer.json's schema");
  }
  for (const auto& t : impl->added)
    SLM_CHECK(t.id >= 0, place.at("added_tokens"), ": token '", t.content, "' has a negative id");
  finish_impl(*impl);
  read_special_ids(path, *impl);
  return Tokenizer(std::move(impl));
}

}  // namespace slm
