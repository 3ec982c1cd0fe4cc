// test_data_fuzz.cpp — libFuzzer target over the JSONL record reader and the chat template
// parser/renderer. Not part of CTest: built and run by tools/fuzz_data.sh with clang's
// -fsanitize=fuzzer,address,undefined. slm::Error is the expected outcome of bad input; any other
// exception, crash or sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/chat_template/chat_template.h"
#include "data/dataset/records.h"
#include "train/core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    if (data[0] & 1) {  // a JSONL record
      slm::Record r = slm::record_from_json(text, slm::DataFormat::Auto, "fuzz");
      (void)r;
    } else {  // a chat template, rendered on a fixed conversation
      slm::ChatTemplate t(text, "fuzz");
      std::vector<slm::ChatMessage> m = {{"system", "s"}, {"user", "u"}, {"assistant", "a"}};
      (void)t.render(m, true, "<s>", "</s>");
    }
  } catch (const slm::Error&) {
#ifdef SLM_FUZZ_SKIP_KNOWN
  } catch (const std::out_of_range&) {  // known: the lexer's std::stoll on a huge integer literal
#endif
  }
  return 0;
}
