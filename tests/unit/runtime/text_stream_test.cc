#include "runtime/text_stream.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace suanli::runtime {
namespace {

std::string Feed(TextStream& ts, const std::vector<std::string>& pieces) {
  std::string out;
  for (const auto& p : pieces) out += ts.Push(p);
  if (!ts.stopped()) out += ts.Flush();
  return out;
}

TEST(TextStream, NoStopsPassesEverything) {
  TextStream ts;
  EXPECT_EQ(ts.Push("Hello"), "Hello");
  EXPECT_EQ(ts.Push(" world"), " world");
  EXPECT_EQ(ts.Flush(), "");
}

TEST(TextStream, HoldsSplitUtf8Characters) {
  TextStream ts;
  const std::string e = "\xE2\x82\xAC";  // €
  EXPECT_EQ(ts.Push("a\xE2"), "a");
  EXPECT_EQ(ts.Push("\x82"), "");
  EXPECT_EQ(ts.Push("\xAC!"), e + "!");
  EXPECT_EQ(CompleteUtf8Prefix("\xF0\x9F\x98"), 0u);
  EXPECT_EQ(CompleteUtf8Prefix("\xF0\x9F\x98\x80"), 4u);
  EXPECT_EQ(CompleteUtf8Prefix("ab\xFF"), 3u);  // invalid bytes never block
}

TEST(TextStream, StopAcrossTokensIsNeverEmitted) {
  TextStream ts({"</s>", "STOP"});
  std::string out;
  out += ts.Push("The end<");
  EXPECT_EQ(out, "The end");  // "<" could start "</s>"
  out += ts.Push("/");
  out += ts.Push("s");
  EXPECT_FALSE(ts.stopped());
  out += ts.Push("> more");
  EXPECT_TRUE(ts.stopped());
  EXPECT_EQ(out, "The end");
  EXPECT_EQ(ts.matched(), "</s>");
  EXPECT_EQ(ts.Push("ignored"), "");
}

TEST(TextStream, FalseStartIsReleased) {
  TextStream ts({"STOP"});
  EXPECT_EQ(Feed(ts, {"ST", "OR", "Y"}), "STORY");
  EXPECT_FALSE(ts.stopped());
}

TEST(TextStream, EarliestStopWins) {
  TextStream ts({"bc", "abcd"});
  EXPECT_EQ(Feed(ts, {"xxab", "cd"}), "xx");  // "abcd" starts first
  EXPECT_EQ(ts.matched(), "abcd");
  TextStream us({"cd", "bcd"});
  EXPECT_EQ(Feed(us, {"ab", "cd"}), "a");
  EXPECT_EQ(us.matched(), "bcd");
}

TEST(TextStream, StopInsideOnePiece) {
  TextStream ts({"\n\n"});
  EXPECT_EQ(Feed(ts, {"line one\n\nline two"}), "line one");
}

}  // namespace
}  // namespace suanli::runtime
