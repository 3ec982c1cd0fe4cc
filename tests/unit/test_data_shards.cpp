// test_data_shards.cpp — packing invariants, packed vs unpacked documents, HDF5 shard round trip
// and attribute validation, the loader (determinism, cursor resume, rank sharding) and
// prepare_data (cache reuse, eval split, end-of-turn check, mixing datasets by weight).
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <span>

#include "data/loader.h"
#include "data/prepare.h"
#include "data/shards.h"
#include "train/core/error.h"
#include "train/core/files.h"

namespace slm {
namespace {
namespace fs = std::filesystem;

const std::string k_src = SLM_SOURCE_DIR;

std::vector<Example> random_examples(int n, int max_len, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<Example> out;
  for (int i = 0; i < n; ++i) {
    Example ex;
    const int len = 1 + static_cast<int>(rng() % max_len);
    for (int t = 0; t < len; ++t) {
      ex.tokens.push_back(1000 * (i + 1) + t);  // unique per example: identifies documents
      ex.mask.push_back(t == 0 ? 0 : static_cast<std::uint8_t>(rng() % 2));
    }
    if (len > 1) ex.mask.back() = 1;
    out.push_back(ex);
  }
  return out;
}

// Documents of packed rows as (tokens, mask), keyed by their first token; padding skipped.
std::map<std::int32_t, std::pair<std::vector<std::int32_t>, std::vector<std::uint8_t>>> documents(const PackedRows& p, std::int32_t pad) {
  std::map<std::int32_t, std::pair<std::vector<std::int32_t>, std::vector<std::uint8_t>>> docs;
  for (std::int64_t r = 0; r < p.rows(); ++r)
    for (std::int64_t d = p.row_doc_index[r]; d + 1 < p.row_doc_index[r + 1]; ++d) {
      const std::int64_t a = r * p.seq_len + p.doc_offsets[d], b = r * p.seq_len + p.doc_offsets[d + 1];
      if (p.tokens[a] == pad) continue;
      docs[p.tokens[a]] = {std::vector<std::int32_t>(p.tokens.begin() + a, p.tokens.begin() + b),
                           std::vector<std::uint8_t>(p.mask.begin() + a, p.mask.begin() + b)};
    }
  return docs;
}

TEST(DataPacking, RowsHoldWholeExamplesWithValidOffsets) {
  std::vector<Example> ex = random_examples(300, 60, 1);
  ex.push_back(random_examples(1, 1, 2)[0]);  // one token, no target: dropped as untrained
  ex.push_back(Example{});
  ex.back().tokens.assign(200, 7), ex.back().mask.assign(200, 1);  // too long: truncated
  PackStats stats;
  PackedRows p = pack_examples(ex, {.seq_len = 64, .packing = true, .pad_id = -1}, stats);
  EXPECT_EQ(p.tokens.size(), static_cast<std::size_t>(p.rows() * 64));
  EXPECT_EQ(stats.truncated, 1);
  std::int64_t docs = 0, padding = 0;
  for (std::int64_t r = 0; r < p.rows(); ++r) {
    ASSERT_EQ(p.doc_offsets[p.row_doc_index[r]], 0);
    ASSERT_EQ(p.doc_offsets[p.row_doc_index[r + 1] - 1], 64);
    for (std::int64_t d = p.row_doc_index[r]; d + 1 < p.row_doc_index[r + 1]; ++d) {
      ASSERT_LT(p.doc_offsets[d], p.doc_offsets[d + 1]);
      EXPECT_EQ(p.mask[r * 64 + p.doc_offsets[d]], 0) << "a document's first token is never a target";
      const std::int32_t first = p.tokens[r * 64 + p.doc_offsets[d]];
      for (std::int32_t t = p.doc_offsets[d]; t < p.doc_offsets[d + 1]; ++t) {
        const std::int32_t tok = p.tokens[r * 64 + t];
        if (first == -1) {
          EXPECT_EQ(tok, -1);
          EXPECT_EQ(p.mask[r * 64 + t], 0);
          ++padding;
        } else {  // one example: its ids are consecutive (or the truncated run of 7s)
          EXPECT_TRUE(tok == 7 ? first == 7 : tok == first + (t - p.doc_offsets[d]));
        }
      }
      docs += first != -1;
    }
  }
  EXPECT_EQ(docs, stats.examples);
  EXPECT_EQ(padding, stats.padding_tokens);
  EXPECT_EQ(stats.examples + stats.untrained + stats.dropped, static_cast<std::int64_t>(ex.size()));
  EXPECT_EQ(stats.tokens + stats.padding_tokens, p.rows() * 64);
  // Best-fit decreasing packs tightly: within 10% of the lower bound.
  EXPECT_LE(p.rows(), (stats.tokens + 63) / 64 * 11 / 10 + 1);
}

TEST(DataPacking, PackedAndUnpackedGiveTheSameDocuments) {
  std::vector<Example> a = random_examples(120, 70, 3), b = a;
  PackStats sa, sb;
  PackedRows packed = pack_examples(a, {.seq_len = 64, .packing = true, .pad_id = -1}, sa);
  PackedRows unpacked = pack_examples(b, {.seq_len = 64, .packing = false, .pad_id = -1}, sb);
  EXPECT_EQ(unpacked.rows(), sb.examples);
  EXPECT_LT(packed.rows(), unpacked.rows());
  EXPECT_EQ(documents(packed, -1), documents(unpacked, -1));
  EXPECT_EQ(sa.trained_tokens, sb.trained_tokens);
  // truncation: drop
  std::vector<Example> c = random_examples(50, 100, 4);
  PackStats sc;
  pack_examples(c, {.seq_len = 64, .packing = true, .truncation = DataTruncation::Drop}, sc);
  EXPECT_GT(sc.dropped, 0);
  EXPECT_EQ(sc.truncated, 0);
}

class DataFiles : public ::testing::Test {
 protected:
  fs::path dir = fs::temp_directory_path() / ("slm_test_data_shards_" + std::to_string(::getpid()));
  void SetUp() override { fs::create_directories(dir); }
  void TearDown() override { fs::remove_all(dir); }
  fs::path make_shard(const std::string& name, int n, std::int64_t seq_len = 32) {
    std::vector<Example> ex = random_examples(n, 30, 5);
    ShardInfo info;
    info.tokenizer_hash = "0123456789abcdef";
    info.chat_template_hash = "t";
    info.source_files = {"a.jsonl", "b.jsonl"};
    PackedRows p = pack_examples(ex, {.seq_len = seq_len, .packing = true, .pad_id = 0}, info.stats);
    write_shard(dir / name, p, info);
    last = std::move(p);
    return dir / name;
  }
  PackedRows last;
};

TEST_F(DataFiles, ShardRoundTripAndValidation) {
  fs::path path = make_shard("s.h5", 80);
  ShardReader reader(path, {.tokenizer_hash = "0123456789abcdef", .seq_len = 32});
  ASSERT_EQ(reader.num_rows(), last.rows());
  EXPECT_EQ(reader.seq_len(), 32);
  EXPECT_EQ(reader.info().source_files, (std::vector<std::string>{"a.jsonl", "b.jsonl"}));
  EXPECT_EQ(reader.info().chat_template_hash, "t");
  EXPECT_GT(reader.info().stats.trained_tokens, 0);
  std::vector<std::int32_t> tokens(32), starts;
  std::vector<std::uint8_t> mask(32);
  for (std::int64_t r = 0; r < reader.num_rows(); ++r) {
    reader.read_row(r, tokens.data(), mask.data(), starts);
    EXPECT_TRUE(std::equal(tokens.begin(), tokens.end(), last.tokens.begin() + r * 32));
    EXPECT_TRUE(std::equal(mask.begin(), mask.end(), last.mask.begin() + r * 32));
    EXPECT_EQ(starts, std::vector<std::int32_t>(last.doc_offsets.begin() + last.row_doc_index[r],
                                                last.doc_offsets.begin() + last.row_doc_index[r + 1]));
  }
  EXPECT_FALSE(fs::exists(path.string() + ".tmp-" + std::to_string(::getpid())));
  try {
    ShardReader other(path, {.tokenizer_hash = "ffffffffffffffff"});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("prepared for another tokenizer"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("rerun `slmtune prepare"), std::string::npos);
  }
  EXPECT_THROW(ShardReader(path, {.seq_len = 64}), Error);
  std::ofstream(dir / "junk.h5") << "not hdf5";
  EXPECT_THROW(ShardReader(dir / "junk.h5"), Error);
  EXPECT_THROW(ShardReader(dir / "none.h5"), Error);
}

TEST_F(DataFiles, LoaderIsDeterministicResumableAndSharded) {
  fs::path a = make_shard("a.h5", 120), b = make_shard("b.h5", 60);
  LoaderOptions o{.micro_batch_size = 3, .seed = 7};
  DataLoader l1({a, b}, o), l2({a, b}, o);
  EXPECT_EQ(l1.epoch_order(0), l2.epoch_order(0));
  EXPECT_NE(l1.epoch_order(0), l1.epoch_order(1));
  auto ids = [](DataLoader& l, int n) {
    std::vector<std::int64_t> out;
    MicroBatch mb;
    for (int i = 0; i < n;) {
      if (!l.next(mb)) continue;
      out.insert(out.end(), mb.row_ids.begin(), mb.row_ids.end());
      EXPECT_EQ(mb.cu_seqlens.front(), 0);
      EXPECT_EQ(mb.cu_seqlens.back(), mb.rows * mb.seq_len);
      ++i;
    }
    return out;
  };
  const std::int64_t steps = l1.steps_per_epoch();
  EXPECT_EQ(steps, l1.num_rows() / 3);
  std::vector<std::int64_t> full = ids(l1, static_cast<int>(steps + 5));  // crosses into epoch 1
  std::vector<std::int64_t> head = ids(l2, 4);
  const LoaderCursor saved = l2.cursor();
  DataLoader l3({a, b}, o);
  l3.set_cursor(saved);
  std::vector<std::int64_t> tail = ids(l3, static_cast<int>(steps + 1));
  head.insert(head.end(), tail.begin(), tail.end());
  EXPECT_EQ(head, full);
  std::set<std::int64_t> epoch0(full.begin(), full.begin() + steps * 3);
  EXPECT_EQ(static_cast<std::int64_t>(epoch0.size()), steps * 3);  // no row twice in an epoch
  // Two ranks split each step's rows without overlap.
  DataLoader r0({a, b}, {.micro_batch_size = 2, .seed = 7, .rank = 0, .world = 2});
  DataLoader r1({a, b}, {.micro_batch_size = 2, .seed = 7, .rank = 1, .world = 2});
  DataLoader single({a, b}, {.micro_batch_size = 4, .seed = 7});
  MicroBatch m0, m1, ms;
  for (int s = 0; s < 5; ++s) {
    ASSERT_TRUE(r0.next(m0) && r1.next(m1) && single.next(ms));
    std::vector<std::int64_t> both = m0.row_ids;
    both.insert(both.end(), m1.row_ids.begin(), m1.row_ids.end());
    EXPECT_EQ(both, ms.row_ids);
  }
  // Position ids restart in every document.
  for (std::size_t d = 0; d + 1 < ms.cu_seqlens.size(); ++d) EXPECT_EQ(ms.position_ids[ms.cu_seqlens[d]], 0);
  EXPECT_THROW(DataLoader({a}, {.micro_batch_size = 100000}), Error);
}

class DataPrepare : public DataFiles {
 protected:
  Recipe recipe_for(const fs::path& train) {
    Recipe r;
    r.data.train = {train.string()};
    r.data.seq_len = 128;
    r.data.cache_dir = (dir / "cache").string();
    return r;
  }
  Tokenizer tok = Tokenizer::from_tokenizer_json(k_src + "/tests/fixtures/tokenizers/smollm2/tokenizer.json");
  std::optional<ChatTemplateText> tmpl = ChatTemplateText{
      read_file(k_src + "/tests/fixtures/chat_templates/templates/smollm2_gguf.jinja", "template"), "smollm2_gguf.jinja"};
};

TEST_F(DataPrepare, WritesReusesAndSplits) {
  std::ofstream f(dir / "qa.jsonl");
  for (int i = 0; i < 200; ++i)
    f << R"({"messages":[{"role":"user","content":"What is )" << i << R"(?"},{"role":"assistant","content":"It is the number )" << i << R"(."}]})" << "\n";
  f.close();
  Recipe r = recipe_for(dir / "qa.jsonl");
  r.data.eval_fraction = 0.1;
  PreparedData p = prepare_data(r, dir / "run", tok, tmpl);
  EXPECT_FALSE(p.reused);
  ASSERT_TRUE(p.eval.has_value());
  EXPECT_EQ(p.train.stats.records + p.eval->stats.records, 200);
  EXPECT_GT(p.eval->stats.records, 5);
  EXPECT_LT(p.eval->stats.records, 40);
  EXPECT_EQ(p.train.stats.replies_terminated, p.train.stats.records);
  ShardReader reader(p.train.shards.at(0), {.tokenizer_hash = tok.hash(), .seq_len = 128});
  EXPECT_EQ(reader.info().stats.examples, p.train.stats.records);
  EXPECT_NE(format_prepare_report(p).find("tokens/s"), std::string::npos);
  PreparedData again = prepare_data(r, dir / "run", tok, tmpl);
  EXPECT_TRUE(again.reused);
  EXPECT_EQ(again.dir, p.dir);
  EXPECT_EQ(again.train.stats.pack.trained_tokens, p.train.stats.pack.trained_tokens);
  r.data.seq_len = 256;  // another setting: another folder
  EXPECT_NE(prepare_data(r, dir / "run", tok, tmpl).dir, p.dir);
}

// n chat records whose answers say "Answer <tag>-<i>.", so each document's source is known.
void write_qa(const fs::path& path, const std::string& tag, int n) {
  std::ofstream f(path);
  for (int i = 0; i < n; ++i)
    f << R"({"messages":[{"role":"user","content":"Question )" << i << " about " << tag
      << R"(?"},{"role":"assistant","content":"Answer )" << tag << "-" << i << R"(."}]})" << "\n";
}

// How often each answer ("alpha-7") occurs among the documents of a shard.
std::map<std::string, int> answers_in(const fs::path& shard, const Tokenizer& tok) {
  ShardReader reader(shard);
  std::vector<std::int32_t> tokens(reader.seq_len()), starts;
  std::vector<std::uint8_t> mask(reader.seq_len());
  std::map<std::string, int> count;
  for (std::int64_t r = 0; r < reader.num_rows(); ++r) {
    reader.read_row(r, tokens.data(), mask.data(), starts);
    for (std::size_t d = 0; d + 1 < starts.size(); ++d) {
      const std::string text = tok.decode(std::span(tokens.data() + starts[d], tokens.data() + starts[d + 1]));
      const std::size_t at = text.find("Answer ");
      if (at != std::string::npos) ++count[text.substr(at + 7, text.find('.', at) - at - 7)];
    }
  }
  return count;
}

// Per source tag: documents, distinct documents, and the largest repeat count.
struct TagCount {
  int total = 0, distinct = 0, max_repeat = 0;
};
std::map<std::string, TagCount> by_tag(const std::map<std::string, int>& answers) {
  std::map<std::string, TagCount> out;
  for (const auto& [answer, n] : answers) {
    TagCount& t = out[answer.substr(0, answer.find('-'))];
    t.total += n, ++t.distinct, t.max_repeat = std::max(t.max_repeat, n);
  }
  return out;
}

TEST(DataMix, CountsFollowTheWeights) {
  EXPECT_EQ(mix_counts({30, 50}, {}), (std::vector<std::int64_t>{30, 50}));
  EXPECT_EQ(mix_counts({30, 50}, {3, 1}), (std::vector<std::int64_t>{60, 20}));
  EXPECT_EQ(mix_counts({30, 50}, {0.75, 0.25}), (std::vector<std::int64_t>{60, 20}));
  EXPECT_EQ(mix_counts({10, 10, 1}, {1, 1, 1}), (std::vector<std::int64_t>{7, 7, 7}));
  EXPECT_EQ(mix_counts({1, 2}, {1, 1}), (std::vector<std::int64_t>{2, 2}));  // 1.5 rounds up
  EXPECT_THROW(mix_counts({1, 2}, {1}), Error);
}

TEST_F(DataPrepare, MixesDatasetsByWeight) {
  write_qa(dir / "a.jsonl", "alpha", 30);
  write_qa(dir / "b.jsonl", "beta", 50);
  Recipe r = recipe_for(dir / "a.jsonl");
  r.data.train.push_back((dir / "b.jsonl").string());
  r.data.train_weights = {3, 1};
  PreparedData p = prepare_data(r, dir / "run", tok, tmpl);
  // sum(n) = 80 examples: alpha gives 3/4 of them (60: two whole passes), beta 1/4 (20 of its 50).
  const std::vector<SourceStats>& src = p.train.stats.sources;
  ASSERT_EQ(src.size(), 2u);
  EXPECT_EQ(src[0].name, (dir / "a.jsonl").string());
  EXPECT_EQ(src[0].examples, 30);
  EXPECT_EQ(src[0].drawn, 60);
  EXPECT_EQ(src[1].examples, 50);
  EXPECT_EQ(src[1].drawn, 20);
  EXPECT_DOUBLE_EQ(src[1].weight, 1);
  EXPECT_EQ(p.train.stats.records, 80);
  EXPECT_EQ(p.train.stats.pack.examples, 80);
  const std::map<std::string, int> first = answers_in(p.train.shards.at(0), tok);
  std::map<std::string, TagCount> tags = by_tag(first);
  EXPECT_EQ(tags["alpha"].total, 60);
  EXPECT_EQ(tags["alpha"].distinct, 30);
  EXPECT_EQ(tags["alpha"].max_repeat, 2);
  EXPECT_EQ(tags["beta"].total, 20);
  EXPECT_EQ(tags["beta"].distinct, 20);  // without replacement
  const std::string report = format_prepare_report(p);
  EXPECT_NE(report.find("b.jsonl: 50 records (0 skipped) -> 50 examples, weight 1 -> 20 drawn (0.40 passes)"),
            std::string::npos) << report;

  // Deterministic: the same recipe elsewhere gives the same documents; the key holds the mixing.
  Recipe again = r;
  again.data.cache_dir = (dir / "cache2").string();
  PreparedData q = prepare_data(again, dir / "run", tok, tmpl);
  EXPECT_FALSE(q.reused);
  EXPECT_EQ(q.key, p.key);
  EXPECT_EQ(answers_in(q.train.shards.at(0), tok), first);
  EXPECT_TRUE(prepare_data(r, dir / "run", tok, tmpl).reused);
  // Another seed draws another sample of beta, of the same size.
  again.train.seed = 7;
  PreparedData other = prepare_data(again, dir / "run", tok, tmpl);
  EXPECT_NE(other.key, p.key);
  const std::map<std::string, int> third = answers_in(other.train.shards.at(0), tok);
  EXPECT_NE(third, first);
  EXPECT_EQ(by_tag(third)["beta"].total, 20);
  // Other weights: another key; beta now outweighs alpha.
  again.data.train_weights = {1, 3};
  PreparedData flipped = prepare_data(again, dir / "run", tok, tmpl);
  EXPECT_NE(flipped.key, other.key);
  EXPECT_EQ(flipped.train.stats.sources[0].drawn, 20);
  EXPECT_EQ(flipped.train.stats.sources[1].drawn, 60);
}

TEST_F(DataPrepare, HoldsOutEvalBeforeMixingAndDoesNotReweightIt) {
  write_qa(dir / "a.jsonl", "alpha", 100);
  write_qa(dir / "b.jsonl", "beta", 100);
  Recipe r = recipe_for(dir / "a.jsonl");
  r.data.train.push_back((dir / "b.jsonl").string());
  r.data.train_weights = {1, 4};
  r.data.eval_fraction = 0.2;
  PreparedData p = prepare_data(r, dir / "run", tok, tmpl);
  ASSERT_TRUE(p.eval.has_value());
  const auto& tr = p.train.stats.sources;
  const auto& ev = p.eval->stats.sources;
  ASSERT_EQ(tr.size(), 2u);
  ASSERT_EQ(ev.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(tr[i].records + ev[i].records, 100);
    EXPECT_GT(ev[i].records, 5);
    EXPECT_EQ(ev[i].drawn, ev[i].examples);  // eval: every held-out example once
  }
  const std::int64_t n = tr[0].examples + tr[1].examples;
  EXPECT_EQ(tr[0].drawn, std::llround(n / 5.0));
  EXPECT_EQ(tr[1].drawn, std::llround(n * 4 / 5.0));
  std::map<std::string, TagCount> eval_tags = by_tag(answers_in(p.eval->shards.at(0), tok));
  EXPECT_EQ(eval_tags["alpha"].total, ev[0].records);
  EXPECT_EQ(eval_tags["beta"].total, ev[1].records);
  EXPECT_EQ(eval_tags["beta"].max_repeat, 1);
  // No train document is an eval document.
  std::map<std::string, int> train_docs = answers_in(p.train.shards.at(0), tok);
  for (const auto& [answer, count] : answers_in(p.eval->shards.at(0), tok)) EXPECT_EQ(train_docs.count(answer), 0u) << answer;
}

TEST_F(DataPrepare, WithoutWeightsDatasetsAreConcatenated) {
  write_qa(dir / "a.jsonl", "alpha", 30);
  write_qa(dir / "b.jsonl", "beta", 50);
  {
    std::ofstream both(dir / "ab.jsonl");
    both << read_file(dir / "a.jsonl", "a") << read_file(dir / "b.jsonl", "b");
  }
  Recipe r = recipe_for(dir / "a.jsonl");
  r.data.train.push_back((dir / "b.jsonl").string());
  PreparedData p = prepare_data(r, dir / "run", tok, tmpl);
  ASSERT_EQ(p.train.stats.sources.size(), 2u);
  EXPECT_EQ(p.train.stats.sources[0].drawn, 30);
  EXPECT_EQ(p.train.stats.sources[1].drawn, 50);
  EXPECT_EQ(p.train.stats.pack.examples, 80);
  // The same shard as one file holding both, row for row.
  PreparedData one = prepare_data(recipe_for(dir / "ab.jsonl"), dir / "run", tok, tmpl);
  ShardReader x(p.train.shards.at(0)), y(one.train.shards.at(0));
  ASSERT_EQ(x.num_rows(), y.num_rows());
  std::vector<std::int32_t> tx(x.seq_len()), ty(y.seq_len()), sx, sy;
  std::vector<std::uint8_t> mx(x.seq_len()), my(y.seq_len());
  for (std::int64_t i = 0; i < x.num_rows(); ++i) {
    x.read_row(i, tx.data(), mx.data(), sx);
    y.read_row(i, ty.data(), my.data(), sy);
    ASSERT_EQ(tx, ty) << "row " << i;
    ASSERT_EQ(mx, my) << "row " << i;
    ASSERT_EQ(sx, sy) << "row " << i;
  }
  // A one-dataset recipe keeps the key it had before mixing existed (no mixing text in it).
  Recipe single = recipe_for(dir / "ab.jsonl");
  Recipe weighted = single;
  weighted.data.train_weights = {1};
  EXPECT_NE(data_cache_key(single, "t", "c"), data_cache_key(weighted, "t", "c"));
  single.train.seed = 9;  // the seed only matters with weights
  EXPECT_EQ(data_cache_key(single, "t", "c"), data_cache_key(recipe_for(dir / "ab.jsonl"), "t", "c"));
}

TEST_F(DataPrepare, FailsWhenTheEndOfTurnIsNeverTrained) {
  std::ofstream(dir / "qa.jsonl") << R"({"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]})" << "\n";
  std::optional<ChatTemplateText> bare = ChatTemplateText{
      "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\n' }}{% endfor %}"
      "{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}", "bare.jinja"};
  try {
    prepare_data(recipe_for(dir / "qa.jsonl"), dir / "run", tok, bare);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("would never learn to stop"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bare.jinja"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace slm
