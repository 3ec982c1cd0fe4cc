// prepare.cpp — prepare_data: reading, splitting, parallel rendering, mixing several datasets by
// weight, packing, shard writing and the cache folder (see prepare.h for the key, the mixing
// rule and the layout).
#include "data/prepare.h"

#include <unistd.h>  // getpid: unique temporary folder names

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>    // llround: mixing counts
#include <cstdio>
#include <iterator>
#include <numeric>  // accumulate
#include <thread>

#include <nlohmann/json.hpp>

#include "data/dataset/examples.h"
#include "data/dataset/records.h"
#include "data/shards.h"
#include "train/core/error.h"
#include "train/core/files.h"
#include "train/core/text.h"  // format_number

namespace slm {
namespace fs = std::filesystem;
namespace {

constexpr std::size_t k_max_reasons = 5;

void hash_files(std::string& acc, const std::vector<fs::path>& files) {
  for (const fs::path& f : files) {
    acc += fs::absolute(f).lexically_normal().string() + "|" + std::to_string(fs::file_size(f)) + "|" +
           std::to_string(fs::last_write_time(f).time_since_epoch().count()) + "\n";
  }
}

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// `k` distinct indices of [0, n), ascending: a partial Fisher-Yates shuffle driven by splitmix64
// with rejection sampling (the same numbers on every platform, unlike <random>'s distributions).
std::vector<std::size_t> sample_without_replacement(std::size_t n, std::size_t k, std::uint64_t state) {
  std::vector<std::size_t> idx(n);
  for (std::size_t i = 0; i < n; ++i) idx[i] = i;
  for (std::size_t i = 0; i < k; ++i) {
    const std::uint64_t bound = n - i, limit = ~0ull - (~0ull % bound);
    std::uint64_t x;
    do x = splitmix64(state);
    while (x >= limit);
    std::swap(idx[i], idx[i + x % bound]);
  }
  idx.resize(k);
  std::sort(idx.begin(), idx.end());
  return idx;
}

// The training split's examples: every dataset's examples in order (no weights), or each
// dataset's mix_counts share as whole passes plus a seeded sample (prepare.h). Fills `drawn`.
std::vector<Example> mix_examples(std::vector<std::vector<Example>>& per_source, const std::vector<double>& weights,
                                  std::uint64_t seed, std::vector<SourceStats>& sources) {
  std::vector<std::int64_t> sizes;
  for (const auto& v : per_source) sizes.push_back(static_cast<std::int64_t>(v.size()));
  const std::vector<std::int64_t> take = mix_counts(sizes, weights);
  std::vector<Example> out;
  out.reserve(static_cast<std::size_t>(std::accumulate(take.begin(), take.end(), std::int64_t{0})));
  for (std::size_t i = 0; i < per_source.size(); ++i) {
    std::vector<Example>& v = per_source[i];
    sources[i].drawn = take[i];
    if (weights.empty()) {
      std::move(v.begin(), v.end(), std::back_inserter(out));
      continue;
    }
    if (take[i] > 0 && v.empty())
      SLM_FAIL(sources[i].name, ": data.train_weights asks for ", take[i], " training examples of this dataset, but it has "
               "none (", sources[i].records, " records, ", sources[i].skipped_records, " skipped); fix the dataset or "
               "remove it from data.train and data.train_weights");
    if (v.empty()) continue;
    const std::size_t n = v.size(), passes = static_cast<std::size_t>(take[i]) / n, rest = static_cast<std::size_t>(take[i]) % n;
    for (std::size_t p = 0; p < passes; ++p) out.insert(out.end(), v.begin(), v.end());
    for (std::size_t j : sample_without_replacement(n, rest, seed * 0x2545f4914f6cdd1dull + i + 1)) out.push_back(v[j]);
  }
  return out;
}

// Everything a record says, for the deterministic eval split.
std::uint64_t record_hash(const Record& r) {
  std::string s = std::string(enum_name(r.format)) + '\x1f' + r.text + '\x1f' + r.prompt + '\x1f' + r.completion +
                  '\x1f' + r.instruction + '\x1f' + r.input + '\x1f' + r.output;
  for (const ChatMessage& m : r.messages) s += '\x1e' + m.role + '\x1f' + m.content;
  return std::stoull(fnv1a_hex(s), nullptr, 16);
}

struct Built {
  std::vector<Example> examples;
  std::int64_t skipped = 0;
  std::vector<std::string> reasons;
  std::int64_t replies = 0, terminated = 0;
};

// Renders every record on all cores (each thread its own builder); errors are raised or skipped
// in record order, so the first error reported is the first in the files.
Built build_examples(const std::vector<Record>& records, const Tokenizer& tokenizer,
                     const std::optional<ChatTemplateText>& tmpl, const DataSection& data) {
  const std::size_t n = records.size();
  std::vector<Example> out(n);
  std::vector<std::string> errors(n);
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    ExampleBuilder builder(tokenizer, tmpl, ExampleOptions{data.train_on_prompt});
    for (std::size_t i; (i = next.fetch_add(1)) < n;) {
      try {
        out[i] = builder.build(records[i]);
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    }
  };
  ExampleBuilder probe(tokenizer, tmpl, ExampleOptions{data.train_on_prompt});  // template errors surface here
  const unsigned threads = std::max(1u, std::min<unsigned>(std::thread::hardware_concurrency(), n / 64 + 1));
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  Built b;
  for (std::size_t i = 0; i < n; ++i) {
    if (!errors[i].empty()) {
      if (data.on_error == DataOnError::Fail) throw Error(errors[i] + "; or set data.on_error: skip to skip such records");
      ++b.skipped;
      if (b.reasons.size() < k_max_reasons) b.reasons.push_back(errors[i]);
      continue;
    }
    b.replies += out[i].replies;
    b.terminated += out[i].replies_terminated;
    b.examples.push_back(std::move(out[i]));
  }
  return b;
}

void check_terminators(std::int64_t replies, std::int64_t terminated, const Tokenizer& tokenizer,
                       const std::optional<ChatTemplateText>& tmpl, const std::string& split) {
  if (replies == 0 || terminated == replies) return;
  std::string names;
  for (std::int32_t id : {tokenizer.eot(), tokenizer.eos()})
    if (id >= 0) names += (names.empty() ? "" : ", ") + tokenizer.token_text(id);
  SLM_FAIL(split, " data: ", replies - terminated, " of ", replies,
           " assistant replies end without a trained end-of-turn token (",
           names.empty() ? "the tokenizer defines neither eos nor eot" : names,
           "), so the model would never learn to stop. ",
           tmpl ? "The chat template (" + tmpl->source + ") does not close assistant turns with it; "
                : std::string("The tokenizer has no EOS token to append; "),
           "use the model's own template (model.chat_template) or a tokenizer that defines its end-of-turn token");
}

// One dataset's records of one split, with what reading it skipped.
struct Source {
  std::string name;
  std::vector<Record> records;
  std::int64_t skipped = 0;
  std::vector<std::string> reasons;
};

// Renders each source, mixes (train only: `weights`, `seed`), packs and writes `name`.h5.
PreparedSplit prepare_split(const std::vector<Source>& sources, const std::vector<double>& weights, std::uint64_t seed,
                            const std::string& name, const fs::path& dir, const Recipe& recipe, const Tokenizer& tokenizer,
                            const std::optional<ChatTemplateText>& tmpl, ShardInfo info) {
  const auto t0 = std::chrono::steady_clock::now();
  PreparedSplit split;
  SplitStats& s = split.stats;
  std::vector<std::vector<Example>> per_source;
  std::int64_t replies = 0, terminated = 0;
  for (std::size_t i = 0; i < sources.size(); ++i) {
    const Source& src = sources[i];
    Built b = build_examples(src.records, tokenizer, tmpl, recipe.data);
    replies += b.replies, terminated += b.terminated;
    s.sources.push_back(SourceStats{src.name, static_cast<std::int64_t>(src.records.size()), src.skipped + b.skipped,
                                    static_cast<std::int64_t>(b.examples.size()), weights.empty() ? 0.0 : weights[i], 0});
    s.records += s.sources.back().records;
    s.skipped_records += s.sources.back().skipped_records;
    for (const std::string& r : src.reasons)
      if (s.skip_reasons.size() < k_max_reasons) s.skip_reasons.push_back(r);
    for (std::string& r : b.reasons)
      if (s.skip_reasons.size() < k_max_reasons) s.skip_reasons.push_back(std::move(r));
    per_source.push_back(std::move(b.examples));
  }
  check_terminators(replies, terminated, tokenizer, tmpl, name);
  std::vector<Example> examples = mix_examples(per_source, weights, seed, s.sources);
  for (const Example& ex : examples) s.replies += ex.replies, s.replies_terminated += ex.replies_terminated;
  const PackOptions po{recipe.data.seq_len, recipe.data.packing, recipe.data.truncation, pad_id_of(tokenizer)};
  PackedRows rows = pack_examples(examples, po, s.pack);
  if (rows.rows() == 0)
    SLM_FAIL(name, " data: no example is left to train on (", s.records, " records, ", s.skipped_records,
             " skipped, ", s.pack.dropped, " dropped as longer than data.seq_len = ", recipe.data.seq_len, ", ",
             s.pack.untrained, " without any target token); check the data and data.seq_len / data.truncation");
  info.stats = s.pack;
  split.shards.push_back(dir / (name + ".h5"));
  write_shard(split.shards.back(), rows, info);
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return split;
}

nlohmann::json split_json(const PreparedSplit& s) {
  nlohmann::json j;
  for (const fs::path& p : s.shards) j["shards"].push_back(p.filename().string());
  const SplitStats& t = s.stats;
  j["records"] = t.records, j["skipped_records"] = t.skipped_records, j["replies"] = t.replies;
  j["replies_terminated"] = t.replies_terminated, j["seconds"] = t.seconds;
  j["examples"] = t.pack.examples, j["tokens"] = t.pack.tokens, j["trained_tokens"] = t.pack.trained_tokens;
  j["truncated"] = t.pack.truncated, j["dropped"] = t.pack.dropped, j["untrained"] = t.pack.untrained;
  j["rows"] = t.pack.rows, j["padding_tokens"] = t.pack.padding_tokens;
  for (const SourceStats& src : t.sources)
    j["sources"].push_back({{"name", src.name}, {"records", src.records}, {"skipped_records", src.skipped_records},
                            {"examples", src.examples}, {"weight", src.weight}, {"drawn", src.drawn}});
  return j;
}

PreparedSplit split_from_json(const nlohmann::json& j, const fs::path& dir) {
  PreparedSplit s;
  for (const auto& name : j.at("shards")) {
    s.shards.push_back(dir / name.get<std::string>());
    if (!fs::exists(s.shards.back())) SLM_FAIL(s.shards.back().string(), ": listed in the cache manifest but missing; delete ", dir.string(), " and rerun `slmtune prepare`");
  }
  SplitStats& t = s.stats;
  t.records = j.at("records"), t.skipped_records = j.at("skipped_records"), t.replies = j.at("replies");
  t.replies_terminated = j.at("replies_terminated");
  t.pack.examples = j.at("examples"), t.pack.tokens = j.at("tokens"), t.pack.trained_tokens = j.at("trained_tokens");
  t.pack.truncated = j.at("truncated"), t.pack.dropped = j.at("dropped"), t.pack.untrained = j.at("untrained");
  t.pack.rows = j.at("rows"), t.pack.padding_tokens = j.at("padding_tokens");
  if (j.contains("sources"))  // absent in folders written before mixing existed
    for (const auto& src : j.at("sources"))
      t.sources.push_back(SourceStats{src.at("name"), src.at("records"), src.at("skipped_records"), src.at("examples"),
                                      src.at("weight"), src.at("drawn")});
  return s;
}

std::optional<PreparedData> reuse(const fs::path& dir, PreparedData base) {
  const fs::path manifest = dir / "manifest.json";
  if (!fs::exists(manifest)) return std::nullopt;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(manifest, "data cache manifest"));
    base.train = split_from_json(j.at("train"), dir);
    if (j.contains("eval")) base.eval = split_from_json(j.at("eval"), dir);
  } catch (const nlohmann::json::exception& e) {
    SLM_FAIL(manifest.string(), ": unreadable cache manifest (", e.what(), "); delete ", dir.string(), " and rerun `slmtune prepare`");
  }
  base.reused = true;
  return base;
}

}  // namespace

std::vector<std::int64_t> mix_counts(const std::vector<std::int64_t>& sizes, const std::vector<double>& weights) {
  if (weights.empty()) return sizes;
  SLM_CHECK(weights.size() == sizes.size(), "data.train_weights has ", weights.size(), " weights for ", sizes.size(),
            " datasets of data.train; give one weight per dataset");
  const double total = static_cast<double>(std::accumulate(sizes.begin(), sizes.end(), std::int64_t{0}));
  const double wsum = std::accumulate(weights.begin(), weights.end(), 0.0);
  std::vector<std::int64_t> take;
  for (double w : weights) take.push_back(std::llround(w / wsum * total));
  return take;
}

std::string data_cache_key(const Recipe& recipe, const std::string& tokenizer_hash, const std::string& chat_template_hash) {
  const DataSection& d = recipe.data;
  std::string acc = "slmtune data v" + std::to_string(k_shard_format_version) + "\ntrain\n";
  std::string files_per_dataset;
  for (const std::string& entry : d.train) {
    const std::vector<fs::path> files = expand_input(entry);
    hash_files(acc, files);
    files_per_dataset += " " + std::to_string(files.size());
  }
  acc += "eval\n";
  if (!d.eval.empty()) hash_files(acc, expand_inputs(d.eval));
  acc += "tokenizer " + tokenizer_hash + "\ntemplate " + chat_template_hash + "\nformat " + std::string(enum_name(d.format)) +
         "\nseq_len " + std::to_string(d.seq_len) + "\npacking " + (d.packing ? "1" : "0") + "\ntrain_on_prompt " +
         (d.train_on_prompt ? "1" : "0") + "\neval_fraction " + std::to_string(d.eval_fraction) + "\non_error " +
         std::string(enum_name(d.on_error)) + "\ntruncation " + std::string(enum_name(d.truncation)) + "\n";
  if (!d.train_weights.empty()) {  // only then: unweighted keys stay what they were before mixing
    acc += "mix files" + files_per_dataset + "\nweights";
    for (double w : d.train_weights) acc += " " + format_number(w);
    acc += "\nseed " + std::to_string(recipe.train.seed) + "\n";
  }
  return fnv1a_hex(acc);
}

PreparedData prepare_data(const Recipe& recipe, const fs::path& run_dir, const Tokenizer& tokenizer,
                          const std::optional<ChatTemplateText>& chat_template) {
  const DataSection& d = recipe.data;
  if (d.train.empty()) SLM_FAIL("data: no input files given; set data.train to a JSONL or JSON file");
  PreparedData out;
  out.tokenizer_hash = tokenizer.hash();
  out.chat_template_hash = chat_template ? fnv1a_hex(chat_template->text) : "";
  out.key = data_cache_key(recipe, out.tokenizer_hash, out.chat_template_hash);
  out.dir = (d.cache_dir.empty() ? run_dir / "data" : fs::path(d.cache_dir)) / out.key;
  if (auto cached = reuse(out.dir, out)) return *cached;

  const ReadOptions ro{d.format, d.on_error};
  std::vector<Source> train, eval;
  ShardInfo info;
  info.tokenizer_hash = out.tokenizer_hash;
  info.chat_template_hash = out.chat_template_hash;
  for (const std::string& entry : d.train) {
    ReadReport report;
    Source src{entry, read_dataset(expand_input(entry), entry, ro, report), report.skipped, report.skip_reasons};
    for (const fs::path& f : report.files) info.source_files.push_back(f.string());
    if (d.eval.empty() && d.eval_fraction > 0) {  // hold out per record, before any mixing
      Source held{entry, {}, 0, {}}, kept{entry, {}, src.skipped, src.reasons};
      for (Record& r : src.records)
        (static_cast<double>(record_hash(r) >> 11) * 0x1.0p-53 < d.eval_fraction ? held : kept).records.push_back(std::move(r));
      if (kept.records.empty()) SLM_FAIL(entry, ": every record fell into the eval split; lower data.eval_fraction");
      src = std::move(kept);
      eval.push_back(std::move(held));
    }
    train.push_back(std::move(src));
  }
  ReadReport eval_report;
  if (!d.eval.empty()) eval.push_back(Source{d.eval, read_dataset(d.eval, ro, eval_report), eval_report.skipped, eval_report.skip_reasons});
  const fs::path tmp = out.dir.string() + ".tmp-" + std::to_string(getpid());
  fs::remove_all(tmp);
  out.train = prepare_split(train, d.train_weights, static_cast<std::uint64_t>(recipe.train.seed), "train", tmp, recipe,
                            tokenizer, chat_template, info);
  if (std::all_of(eval.begin(), eval.end(), [](const Source& src) { return src.records.empty(); })) eval.clear();
  if (!eval.empty()) {
    if (!d.eval.empty()) {
      info.source_files.clear();
      for (const fs::path& f : eval_report.files) info.source_files.push_back(f.string());
    }
    out.eval = prepare_split(eval, {}, 0, "eval", tmp, recipe, tokenizer, chat_template, info);
  }
  nlohmann::json manifest = {{"key", out.key}, {"tokenizer_hash", out.tokenizer_hash},
                             {"chat_template_hash", out.chat_template_hash}, {"train", split_json(out.train)}};
  if (out.eval) manifest["eval"] = split_json(*out.eval);
  write_file_atomic(tmp / "manifest.json", manifest.dump(2) + "\n");
  std::error_code ec;
  fs::rename(tmp, out.dir, ec);
  if (ec) {  // another process finished the same key first: use its folder
    fs::remove_all(tmp);
    if (auto cached = reuse(out.dir, out)) return *cached;
    SLM_FAIL(out.dir.string(), ": cannot move the prepared data into place (", ec.message(), ")");
  }
  for (PreparedSplit* s : {&out.train, out.eval ? &*out.eval : nullptr})
    if (s)
      for (fs::path& p : s->shards) p = out.dir / p.filename();
  return out;
}

std::string format_prepare_report(const PreparedData& data) {
  std::string text = (data.reused ? "reused prepared data: " : "prepared data: ") + data.dir.string() + "\n";
  auto line = [&](const char* name, const PreparedSplit& s) {
    const SplitStats& t = s.stats;
    char buf[640];
    std::snprintf(buf, sizeof buf,
                  "  %-5s %lld records (%lld skipped) -> %lld examples, %lld tokens, %lld trained tokens, %lld rows "
                  "(%.1f%% padding); %lld truncated, %lld dropped as too long, %lld without targets; %lld/%lld replies "
                  "end with a trained end-of-turn token",
                  name, (long long)t.records, (long long)t.skipped_records, (long long)t.pack.examples,
                  (long long)t.pack.tokens, (long long)t.pack.trained_tokens, (long long)t.pack.rows,
                  100.0 * double(t.pack.padding_tokens) / double(std::max<std::int64_t>(1, t.pack.tokens + t.pack.padding_tokens)),
                  (long long)t.pack.truncated, (long long)t.pack.dropped, (long long)t.pack.untrained,
                  (long long)t.replies_terminated, (long long)t.replies);
    text += buf;
    if (t.seconds > 0) {
      std::snprintf(buf, sizeof buf, "; %.2f s, %.0f tokens/s", t.seconds, t.tokens_per_second());
      text += buf;
    }
    text += "\n";
    const bool weighted = std::any_of(t.sources.begin(), t.sources.end(), [](const SourceStats& x) { return x.weight > 0; });
    if (t.sources.size() > 1 || weighted)
      for (const SourceStats& x : t.sources) {
        std::snprintf(buf, sizeof buf, ": %lld records (%lld skipped) -> %lld examples", (long long)x.records,
                      (long long)x.skipped_records, (long long)x.examples);
        text += "        from " + x.name + buf;
        if (x.weight > 0) {
          std::snprintf(buf, sizeof buf, ", weight %s -> %lld drawn (%.2f passes)", format_number(x.weight).c_str(),
                        (long long)x.drawn, x.examples > 0 ? double(x.drawn) / double(x.examples) : 0.0);
          text += buf;
        }
        text += "\n";
      }
    for (const std::string& r : t.skip_reasons) text += "        skipped: " + r + "\n";
  };
  line("train", data.train);
  if (data.eval) line("eval", *data.eval);
  return text;
}

}  // namespace slm
