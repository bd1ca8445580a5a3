#include <gtest/gtest.h>
#include "btfit/detail/maths.h"
TEST(Maths, SoftplusLarge) { EXPECT_DOUBLE_EQ(btfit::detail::softplus(800.0), 800.0); }
