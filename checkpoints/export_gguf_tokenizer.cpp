// export_gguf_tokenizer.cpp — tokenizer.json (+ tokenizer_config.json, config.json) to GGUF
// tokenizer metadata. The rules and their sources are in the header; this file checks that the
// tokenizer is one llama.cpp's "gpt2" model reproduces, and fails naming the key otherwise.
#include "checkpoints/export_gguf_tokenizer.h"

#include <map>
#include <optional>

#include "checkpoints/gguf_write.h"
#include "checkpoints/json_util.h"
#include "train/core/error.h"
#include "train/core/files.h"

namespace slm {
namespace {

using nlohmann::json;

// The split regexes of tokenizer.json's Split pre-tokenizer for the families llama.cpp names.
constexpr std::string_view k_llama3_regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view k_qwen2_regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

constexpr std::int64_t k_normal = 1, k_control = 3, k_user_defined = 4, k_unused = 5;

json read_json(const std::filesystem::path& path, std::string_view what) {
  return parse_json_strict(read_file(path, what), path.string(), what, 0, false,
                           "the file is damaged: fetch or re-save it");
}

[[noreturn]] void unsupported(const std::string& file, const std::string& key, const std::string& what) {
  SLM_FAIL(file, ": ", key, ": ", what,
           "; slmtune writes GGUF tokenizers for byte-level BPE with the gpt2, smollm, llama-bpe or qwen2 "
           "pre-tokenizer only. Export from a GGUF base model (its tokenizer is copied), or convert with "
           "llama.cpp's convert_hf_to_gguf.py");
}

std::string str_or(const json& obj, const char* key, const std::string& fallback) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : fallback;
}
bool flag_of(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_boolean() && it->get<bool>();
}

bool is_byte_level(const json& step, bool use_regex) {
  return str_or(step, "type", "") == "ByteLevel" && !flag_of(step, "add_prefix_space") &&
         (step.contains("use_regex") ? step["use_regex"].get<bool>() : true) == use_regex;
}

// llama.cpp's name for the pre-tokenizer; throws for structures it has no name for.
std::string pre_name(const json& root, const std::string& file) {
  const json& pre = root.contains("pre_tokenizer") ? root["pre_tokenizer"] : json();
  if (pre.is_null()) unsupported(file, "pre_tokenizer", "null (no byte-level pre-tokenizer)");
  std::vector<json> steps;
  if (str_or(pre, "type", "") == "Sequence") {
    for (const json& s : pre.value("pretokenizers", json::array())) steps.push_back(s);
  } else {
    steps.push_back(pre);
  }
  const json& n = root.contains("normalizer") ? root["normalizer"] : json();
  const std::string normalizer = n.is_null() ? "" : str_or(n, "type", "?");
  std::string name;
  if (steps.size() == 1 && is_byte_level(steps[0], true)) {
    name = "gpt2";
  } else if (steps.size() == 2 && str_or(steps[0], "type", "") == "Digits" && flag_of(steps[0], "individual_digits") &&
             is_byte_level(steps[1], true)) {
    name = "smollm";
  } else if (steps.size() == 2 && str_or(steps[0], "type", "") == "Split" && is_byte_level(steps[1], false) &&
             str_or(steps[0], "behavior", "") == "Isolated" && !flag_of(steps[0], "invert")) {
    const std::string regex = steps[0].contains("pattern") ? str_or(steps[0]["pattern"], "Regex", "") : "";
    if (regex == k_llama3_regex) name = "llama-bpe";
    if (regex == k_qwen2_regex) name = "qwen2";
  }
  if (name.empty()) unsupported(file, "pre_tokenizer", "a pre-tokenizer llama.cpp has no name for (" + pre.dump().substr(0, 200) + ")");
  // Qwen 2's NFC normalizer is dropped as convert_hf_to_gguf (and llama.cpp) do.
  if (!normalizer.empty() && !(name == "qwen2" && normalizer == "NFC"))
    unsupported(file, "normalizer", "normalizer '" + normalizer + "' has no GGUF form");
  return name;
}

void check_model(const json& root, const std::string& file) {
  if (!root.contains("model") || !root["model"].is_object()) unsupported(file, "model", "missing");
  const json& m = root["model"];
  if (str_or(m, "type", "BPE") != "BPE") unsupported(file, "model.type", "'" + str_or(m, "type", "") + "'");
  if (flag_of(m, "byte_fallback")) unsupported(file, "model.byte_fallback", "SentencePiece-style byte fallback");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (!str_or(m, key, "").empty()) unsupported(file, std::string("model.") + key, "not empty");
  const json& d = root.contains("decoder") ? root["decoder"] : json();
  if (!d.is_null() && str_or(d, "type", "") != "ByteLevel") unsupported(file, "decoder", "not ByteLevel");
}

// The merges as gguf-py writes them: "a b", a space inside a token spelled U+0120.
std::vector<std::string> merges_of(const json& merges, const std::string& file) {
  std::vector<std::string> out;
  out.reserve(merges.size());
  auto respell = [](const std::string& s) {
    std::string r;
    for (char c : s) r += c == ' ' ? std::string("\xC4\xA0") : std::string(1, c);
    return r;
  };
  for (std::size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    if (m.is_string()) {
      out.push_back(m.get<std::string>());
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      out.push_back(respell(m[0].get<std::string>()) + " " + respell(m[1].get<std::string>()));
    } else {
      SLM_FAIL(file, ": model.merges[", i, "]: expected \"a b\" or [\"a\", \"b\"]");
    }
  }
  return out;
}

bool looks_special(const std::string& t) {
  auto wrapped = [&](std::string_view open, std::string_view close) {
    return t.size() >= open.size() + close.size() && t.compare(0, open.size(), open) == 0 &&
           t.compare(t.size() - close.size(), close.size(), close) == 0;
  };
  return t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]" || wrapped("<|", "|>") ||
         wrapped("<\xEF\xBD\x9C", "\xEF\xBD\x9C>") || wrapped("<unused", ">");
}

struct Vocab {
  std::vector<std::string> tokens;
  std::vector<std::int64_t> types;
};

Vocab vocab_of(const json& root, std::int64_t vocab_size, const std::string& file) {
  Vocab v;
  v.tokens.assign(static_cast<std::size_t>(vocab_size), std::string());
  v.types.assign(static_cast<std::size_t>(vocab_size), k_unused);
  std::vector<bool> seen(static_cast<std::size_t>(vocab_size), false);
  auto place = [&](std::int64_t id, const std::string& token, std::int64_t type, const char* where) {
    if (id < 0 || id >= vocab_size)
      SLM_FAIL(file, ": ", where, ": token '", token, "' has id ", id, ", outside the model's vocabulary of ", vocab_size,
               " (config.json vocab_size); the tokenizer does not belong to this model");
    v.tokens[static_cast<std::size_t>(id)] = token;
    v.types[static_cast<std::size_t>(id)] = type;
    seen[static_cast<std::size_t>(id)] = true;
  };
  for (auto it = root["model"]["vocab"].begin(); it != root["model"]["vocab"].end(); ++it)
    place(it.value().get<std::int64_t>(), it.key(), k_normal, "model.vocab");
  for (const json& a : root.value("added_tokens", json::array())) {
    const std::string content = a.at("content").get<std::string>();
    if (flag_of(a, "special") || looks_special(content)) {
      place(a.at("id").get<std::int64_t>(), content, k_control, "added_tokens");
    } else {  // gguf-py pre-normalizes SentencePiece spaces in user-defined tokens
      std::string text;
      for (std::size_t i = 0; i < content.size(); ++i) {
        if (content.compare(i, 3, "\xE2\x96\x81") == 0) {
          text += ' ';
          i += 2;
        } else {
          text += content[i];
        }
      }
      place(a.at("id").get<std::int64_t>(), text, k_user_defined, "added_tokens");
    }
  }
  for (std::int64_t i = 0; i < vocab_size; ++i)
    if (!seen[static_cast<std::size_t>(i)]) v.tokens[static_cast<std::size_t>(i)] = "[PAD" + std::to_string(i) + "]";
  return v;
}

// The special token ids and add_* flags, as gguf-py's SpecialVocab finds them.
struct Specials {
  std::map<std::string, std::int64_t> ids;  // "bos" -> id
  std::optional<bool> add_bos, add_eos;
};

std::optional<std::string> config_token(const json& tc, const std::string& typ) {
  auto it = tc.find(typ + "_token");
  if (it == tc.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) return (*it)["content"].get<std::string>();
  return std::nullopt;
}

void template_flags(const json& root, json& tc, bool have_tc, Specials& s) {
  const json& post = root.contains("post_processor") ? root["post_processor"] : json();
  if (post.is_null()) return;
  std::vector<json> processors;
  if (post.contains("processors")) {
    for (const json& p : post["processors"]) processors.push_back(p);
  } else {
    processors.push_back(post);
  }
  for (const json& p : processors) {
    if (str_or(p, "type", "") != "TemplateProcessing") continue;
    const json single = p.value("single", json::array());
    if (single.size() <= 1) continue;
    auto special_id = [](const json& item) -> std::string {
      return item.contains("SpecialToken") ? str_or(item["SpecialToken"], "id", "") : "";
    };
    if (const std::string first = special_id(single.front()); !first.empty()) {
      if (!have_tc) tc["bos_token"] = first;
      s.add_bos = first == config_token(tc, "bos").value_or("") || first == config_token(tc, "cls").value_or("");
    }
    if (const std::string last = special_id(single.back()); !last.empty()) {
      if (!have_tc || last != config_token(tc, "eos").value_or("")) tc["eos_token"] = last;
      s.add_eos = true;
    }
  }
}

Specials specials_of(const json& root, const std::filesystem::path& dir, std::int64_t vocab_size) {
  Specials s;
  json tc = json::object();
  const bool have_tc = std::filesystem::exists(dir / "tokenizer_config.json");
  if (have_tc) tc = read_json(dir / "tokenizer_config.json", "tokenizer_config.json");
  if (!config_token(tc, "bos") && config_token(tc, "cls")) tc["bos_token"] = *config_token(tc, "cls");
  if (!config_token(tc, "eos") && config_token(tc, "sep")) tc["eos_token"] = *config_token(tc, "sep");
  template_flags(root, tc, have_tc, s);
  for (const char* flag : {"bos", "eos"}) {
    auto it = tc.find(std::string("add_") + flag + "_token");
    if (it != tc.end() && it->is_boolean()) (std::string(flag) == "bos" ? s.add_bos : s.add_eos) = it->get<bool>();
  }
  for (const char* typ : {"bos", "eos", "unk", "sep", "pad", "cls", "mask"}) {
    const auto content = config_token(tc, typ);
    if (!content) continue;
    for (const json& a : root.value("added_tokens", json::array()))
      if (a.at("content").get<std::string>() == *content) {
        const std::int64_t id = a.at("id").get<std::int64_t>();
        if (id < vocab_size) s.ids.emplace(typ, id);
        break;
      }
  }
  if (std::filesystem::exists(dir / "config.json")) {  // ids config.json names, for types still unset
    const json config = read_json(dir / "config.json", "config.json");
    for (const char* typ : {"bos", "eos", "unk", "sep", "pad", "cls", "mask"}) {
      auto it = config.find(std::string(typ) + "_token_id");
      if (it != config.end() && it->is_number_integer() && it->get<std::int64_t>() >= 0 &&
          it->get<std::int64_t>() < vocab_size)
        s.ids.emplace(typ, it->get<std::int64_t>());
    }
  }
  return s;
}

// tokenizer_config.json's chat_template, else chat_template.jinja / chat_template.json.
std::vector<std::pair<std::string, GgufValue>> chat_templates(const std::filesystem::path& dir) {
  std::vector<std::pair<std::string, GgufValue>> out;
  json tmpl;
  if (std::filesystem::exists(dir / "tokenizer_config.json"))
    tmpl = read_json(dir / "tokenizer_config.json", "tokenizer_config.json").value("chat_template", json());
  if (tmpl.is_null() && std::filesystem::exists(dir / "chat_template.jinja"))
    tmpl = read_file(dir / "chat_template.jinja", "chat template");
  else if (tmpl.is_null() && std::filesystem::exists(dir / "chat_template.json"))
    tmpl = read_json(dir / "chat_template.json", "chat_template.json").value("chat_template", json());
  if (tmpl.is_string()) out.emplace_back("tokenizer.chat_template", gguf_value_string(tmpl.get<std::string>()));
  if (tmpl.is_array())
    for (const json& t : tmpl) {
      const std::string name = str_or(t, "name", ""), text = str_or(t, "template", "");
      if (name.empty() || text.empty()) continue;
      out.emplace_back(name == "default" ? "tokenizer.chat_template" : "tokenizer.chat_template." + name,
                       gguf_value_string(text));
    }
  return out;
}

}  // namespace

std::vector<std::pair<std::string, GgufValue>> gguf_tokenizer_from_hf_dir(const std::filesystem::path& dir,
                                                                          std::int64_t vocab_size) {
  const std::filesystem::path path = dir / "tokenizer.json";
  const std::string file = path.string();
  const json root = read_json(path, "tokenizer.json");
  check_model(root, file);
  const std::string pre = pre_name(root, file);
  Vocab vocab = vocab_of(root, vocab_size, file);
  const Specials specials = specials_of(root, dir, vocab_size);

  std::vector<std::pair<std::string, GgufValue>> out;
  out.emplace_back("tokenizer.ggml.model", gguf_value_string("gpt2"));
  out.emplace_back("tokenizer.ggml.pre", gguf_value_string(pre));
  out.emplace_back("tokenizer.ggml.tokens", gguf_value_string_array(std::move(vocab.tokens)));
  out.emplace_back("tokenizer.ggml.token_type", gguf_value_int_array(GgufValueType::INT32, std::move(vocab.types)));
  out.emplace_back("tokenizer.ggml.merges", gguf_value_string_array(merges_of(root["model"].value("merges", json::array()), file)));
  static const std::pair<const char*, const char*> k_id_keys[] = {
      {"bos", "bos_token_id"}, {"eos", "eos_token_id"},     {"unk", "unknown_token_id"}, {"sep", "seperator_token_id"},
      {"pad", "padding_token_id"}, {"cls", "cls_token_id"}, {"mask", "mask_token_id"}};  // gguf-py's spelling
  for (const auto& [typ, key] : k_id_keys)
    if (auto it = specials.ids.find(typ); it != specials.ids.end())
      out.emplace_back(std::string("tokenizer.ggml.") + key, gguf_value_int(GgufValueType::UINT32, it->second));
  out.emplace_back("tokenizer.ggml.add_bos_token", gguf_value_bool(specials.add_bos.value_or(false)));
  if (specials.add_eos) out.emplace_back("tokenizer.ggml.add_eos_token", gguf_value_bool(*specials.add_eos));
  for (auto& t : chat_templates(dir)) out.push_back(std::move(t));
  return out;
}

}  // namespace slm
