#include "suanli/status.h"

#include <gtest/gtest.h>

namespace suanli {
namespace {

StatusOr<int> Half(int x) {
  if (x % 2) return InvalidArgument("odd: " + std::to_string(x));
  return x / 2;
}

Status UseHalf(int x, int* out) {
  SL_ASSIGN_OR_RETURN(*out, Half(x));
  return Status::Ok();
}

TEST(Status, OkAndError) {
  EXPECT_TRUE(Status::Ok().ok());
  Status s = InvalidArgument("bad magic");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.ToString(), "InvalidArgument: bad magic");
  EXPECT_EQ(s.WithContext("model.gguf").message(), "model.gguf: bad magic");
}

TEST(Status, RetryableCodesAndWireNumbers) {
  EXPECT_TRUE(IsRetryable(StatusCode::kUnavailable));
  EXPECT_TRUE(IsRetryable(StatusCode::kDeadlineExceeded));
  EXPECT_TRUE(IsRetryable(StatusCode::kAborted));
  EXPECT_TRUE(IsRetryable(StatusCode::kResourceExhausted));
  EXPECT_FALSE(IsRetryable(StatusCode::kInvalidArgument));
  EXPECT_FALSE(IsRetryable(StatusCode::kUnauthenticated));
  EXPECT_FALSE(IsRetryable(StatusCode::kCancelled));
  EXPECT_FALSE(IsRetryable(StatusCode::kOk));
  // Numbers are the wire format: every code round-trips, unknown numbers become kInternal.
  for (int v = 0; v <= kMaxStatusCode; ++v) {
    EXPECT_EQ(static_cast<int>(StatusCodeFromInt(v)), v);
    EXPECT_STRNE(StatusCodeName(StatusCodeFromInt(v)), "Unknown");
  }
  EXPECT_EQ(StatusCodeFromInt(-1), StatusCode::kInternal);
  EXPECT_EQ(StatusCodeFromInt(kMaxStatusCode + 1), StatusCode::kInternal);
  EXPECT_EQ(Unavailable("x").ToString(), "Unavailable: x");
}

TEST(StatusOr, PropagatesValueAndError) {
  int v = 0;
  EXPECT_TRUE(UseHalf(8, &v).ok());
  EXPECT_EQ(v, 4);
  Status s = UseHalf(3, &v);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "odd: 3");
}

}  // namespace
}  // namespace suanli
