#include "constrain/dfa.h"
#include "constrain/dfa_test_util.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace troika::constrain {
namespace {
// ---- Formats ---------------------------------------------------------------------------------

struct FormatCase {
  const char* format;
  std::string_view data;
  bool valid;
  const char* description;
};

#include "constrain/format_cases_test.inc"

// Hostname cases that need IDNA (Punycode decoding and the RFC 5892 contextual rules), which an
// automaton over the ASCII text cannot check: they are accepted as well-formed LDH labels.
const std::set<std::string> kIdnaOnly = {"xn--X",
                                         "xn--07jt112bpxg.xn--9t4b11yi5a",
                                         "xn--hello-txk",
                                         "xn--hello-zed",
                                         "xn--hello-6bf",
                                         "xn--chb89f",
                                         "xn--07jceefgh4c",
                                         "xn--al-0ea",
                                         "xn--l-fda",
                                         "xn--la-0ea",
                                         "xn--l-gda",
                                         "xn--S-jib3p",
                                         "xn--wva3j",
                                         "xn--A-2hc5h",
                                         "xn--5db1e",
                                         "xn--A-2hc8h",
                                         "xn--5db3e",
                                         "xn--defabc-k64e",
                                         "xn--vek",
                                         "xn--ngb6iyr",
                                         "xn--11b2er09f",
                                         "xn--02b508i",
                                         "XN--aa---o47jg78q"};

TEST(FormatTest, JsonSchemaTestSuite) {
  int checked = 0;
  for (const FormatCase& c : kFormatCases) {
    const Result<Dfa> d = format_dfa(c.format);
    ASSERT_TRUE(d.ok()) << c.format << ": " << d.status().to_string();
    if (std::string(c.format) == "hostname" && kIdnaOnly.count(std::string(c.data))) continue;
    EXPECT_EQ(d->matches(c.data), c.valid) << c.format << " '" << c.data << "': " << c.description;
    ++checked;
  }
  EXPECT_GT(checked, 300);
}

TEST(FormatTest, Dates) {
  const Dfa d = must(format_dfa("date"));
  // Every day of a 400-year cycle, against the calendar.
  for (int year = 1600; year < 2000; ++year) {
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    const int days[] = {31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (int month = 1; month <= 12; ++month) {
      for (int day = 0; day <= 32; ++day) {
        char buf[16];
        snprintf(buf, sizeof buf, "%04d-%02d-%02d", year, month, day);
        ASSERT_EQ(d.matches(buf), day >= 1 && day <= days[month - 1]) << buf;
      }
    }
  }
  EXPECT_TRUE(d.matches("0000-02-29"));
  EXPECT_TRUE(d.matches("9999-12-31"));
}

TEST(FormatTest, LeapSecondsAgainstTheOffset) {
  const Dfa t = must(format_dfa("time"));
  int accepted = 0;
  for (int h = 0; h < 24; ++h) {
    for (int m = 0; m < 60; ++m) {
      for (int oh = 0; oh < 24; oh += 1) {
        for (int om : {0, 1, 30, 59}) {
          for (int sign : {1, -1}) {
            char buf[32];
            snprintf(buf, sizeof buf, "%02d:%02d:60.5%c%02d:%02d", h, m, sign > 0 ? '+' : '-', oh,
                     om);
            const int utc = ((h * 60 + m - sign * (oh * 60 + om)) % 1440 + 1440) % 1440;
            ASSERT_EQ(t.matches(buf), utc == 1439) << buf;
            accepted += utc == 1439;
          }
        }
      }
    }
  }
  EXPECT_GT(accepted, 0);
  EXPECT_TRUE(t.matches("23:59:60Z"));
  EXPECT_TRUE(t.matches("23:59:60.123z"));
  EXPECT_FALSE(t.matches("23:58:60Z"));
  EXPECT_TRUE(t.matches("00:00:59+23:59"));
}

TEST(FormatTest, MoreCases) {
  const Dfa v4 = must(format_dfa("ipv4"));
  for (int i = 0; i < 300; ++i) {
    ASSERT_EQ(v4.matches("1.2.3." + std::to_string(i)), i <= 255);
    ASSERT_FALSE(v4.matches("1.2.3.0" + std::to_string(i)));
  }
  const Dfa v6 = must(format_dfa("ipv6"));
  for (const char* ok :
       {"1:2:3:4:5:6:7:8", "::", "1::", "::8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
        "1:2:3:4:5:6:1.2.3.4", "::1.2.3.4", "1::1.2.3.4", "FFFF::ffff"}) {
    EXPECT_TRUE(v6.matches(ok)) << ok;
  }
  for (const char* bad : {"1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:1.2.3.4", "1::2::3",
                          ":::", "1:2:3:4:5:6:7", "12345::", "::1.2.3", "g::"}) {
    EXPECT_FALSE(v6.matches(bad)) << bad;
  }
  const Dfa host = must(format_dfa("hostname"));
  std::string name = std::string(63, 'a');
  for (int i = 0; i < 3; ++i) name += "." + std::string(63, 'b');
  EXPECT_FALSE(host.matches(name));            // 255 characters
  EXPECT_TRUE(host.matches(name.substr(2)));   // 253
  EXPECT_FALSE(host.matches(name.substr(1)));  // 254
  const Dfa email = must(format_dfa("email"));
  EXPECT_TRUE(email.matches(std::string(64, 'a') + "@example.com"));
  EXPECT_FALSE(email.matches(std::string(65, 'a') + "@example.com"));
  EXPECT_TRUE(email.matches("\"a\\\"b\"@x.org"));
  EXPECT_FALSE(email.matches("a@b@c"));
  const Dfa uri = must(format_dfa("uri"));
  EXPECT_TRUE(uri.matches("urn:isbn:0451450523"));
  EXPECT_TRUE(uri.matches("http://[v1.fe80::a+en1]/"));
  EXPECT_TRUE(uri.matches("x:"));
  EXPECT_FALSE(uri.matches("http://a b"));
  const Dfa uuid = must(format_dfa("uuid"));
  EXPECT_TRUE(uuid.matches("2eb8aa08-aa98-11ea-b4aa-73b441d16380"));
  EXPECT_FALSE(uuid.matches("2eb8aa08-aa98-11ea-b4aa-73b441d16380\n"));
  const Result<Dfa> unknown = format_dfa("duration");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), Code::kUnimplemented);
  EXPECT_NE(unknown.status().message().find("duration"), std::string::npos);
}

TEST(FormatTest, AsJsonStrings) {
  const Dfa text = must(json_string_dfa(must(format_dfa("date-time"))));
  EXPECT_TRUE(text.matches("\"2024-02-29T12:00:00Z\""));
  EXPECT_FALSE(text.matches("\"2023-02-29T12:00:00Z\""));
}

}  // namespace
}  // namespace troika::constrain
