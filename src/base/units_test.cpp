#include "troika/units.h"

#include <gtest/gtest.h>

namespace troika {
namespace {

TEST(Units, ParsesBinaryAndDecimalUnits) {
  EXPECT_EQ(*parse_bytes("20GiB"), 20ull << 30);
  EXPECT_EQ(*parse_bytes("512 MiB"), 512ull << 20);
  EXPECT_EQ(*parse_bytes("9.5GB"), 9500000000ull);
  EXPECT_EQ(*parse_bytes("4096"), 4096ull);
  EXPECT_EQ(*parse_bytes("64gib"), 64ull << 30);
  EXPECT_EQ(*parse_bytes("1.5KiB"), 1536ull);
}

TEST(Units, RefusesWhatIsNotASize) {
  for (const char* bad : {"", "GiB", "-1GiB", "20 parsecs", "1.2.3GB", "1e30TB"}) {
    auto r = parse_bytes(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find("20GiB"), std::string::npos);
  }
}

TEST(Units, Formats) {
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(5ull << 30), "5.00 GiB");
  EXPECT_EQ(format_bytes_signed(-(300ll << 20)), "-300.00 MiB");
}

}  // namespace
}  // namespace troika
