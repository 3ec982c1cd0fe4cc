// test_text.cpp — string helpers: edit distance, suggestions, number round trips, quoting.
#include <gtest/gtest.h>

#include <charconv>
#include <cstring>
#include <random>
#include <vector>

#include "train/core/text.h"

namespace slm {
namespace {

TEST(EditDistance, KnownPairs) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("abc", ""), 3u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("learning_rate", "lerning_rate"), 1u);
}

TEST(ClosestMatch, SuggestsTyposAndNestedNames) {
  std::vector<std::string> keys = {"rank", "alpha", "dropout", "learning_rate"};
  EXPECT_EQ(closest_match("rnak", keys), "rank");
  EXPECT_EQ(closest_match("lerning_rate", keys), "learning_rate");
  EXPECT_EQ(closest_match("lora_rank", keys), "rank");
  EXPECT_EQ(closest_match("completely_different", keys), "");
}

TEST(FormatNumber, RoundTripsExactly) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> exponent(-30, 30);
  for (int i = 0; i < 2000; ++i) {
    double v = std::pow(10.0, exponent(rng)) * (i % 2 ? -1 : 1);
    std::string text = format_number(v);
    double back = 0;
    std::from_chars(text.data(), text.data() + text.size(), back);
    EXPECT_EQ(back, v) << text;
  }
  EXPECT_EQ(format_number(2e-4), "0.0002");
  EXPECT_EQ(format_number(32), "32");
}

TEST(Quote, EscapesForYamlAndJson) {
  EXPECT_EQ(quote("plain"), "\"plain\"");
  EXPECT_EQ(quote("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
  EXPECT_EQ(quote(std::string("\x01", 1)), "\"\\u0001\"");
}

}  // namespace
}  // namespace slm
