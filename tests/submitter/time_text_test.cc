// submitter/time_text.h: --since as people write it, and times as shown.

#include "submitter/time_text.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <ctime>

namespace drover::submit {
namespace {

// The tests read times in UTC, whatever the machine's zone.
struct Utc {
  Utc() {
    setenv("TZ", "UTC", 1);
    tzset();
  }
};

// 2026-12-05 16:30:00 UTC.
constexpr int64_t kNow = 1796488200000;

TEST_CASE("--since takes a time ago, a day, a date, a date and time, or a time today") {
  Utc utc;
  CHECK(ParseSince("2h", kNow).value() == kNow - 2 * 3600'000);
  CHECK(ParseSince("7d", kNow).value() == kNow - 7 * 86400'000LL);
  CHECK(ParseSince("90", kNow).value() == kNow - 90'000);
  CHECK(ParseSince("today", kNow).value() == 1796428800000);       // 2026-12-05 00:00
  CHECK(ParseSince("yesterday", kNow).value() == 1796342400000);   // 2026-12-04 00:00
  CHECK(ParseSince("2026-12-05", kNow).value() == 1796428800000);
  CHECK(ParseSince("2026-12-05 14:00", kNow).value() == 1796428800000 + 14 * 3600'000);
  CHECK(ParseSince("2026-12-05T14:00:30", kNow).value() ==
        1796428800000 + 14 * 3600'000 + 30'000);
  CHECK(ParseSince("14:00", kNow).value() == 1796428800000 + 14 * 3600'000);
  CHECK(ParseSince("2026-01-01", kNow).value() == 1767225600000);
}

TEST_CASE("--since names what it takes when it cannot read the text") {
  Utc utc;
  for (const char* bad : {"", "soon", "2026-13-01", "2026-12-05 25:00", "2026-12-05x", "14:00:",
                          "1:2", "-5m", "2026/12/05", "12-05"}) {
    CAPTURE(bad);
    Result<int64_t> r = ParseSince(bad, kNow);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find("a time ago (30m, 2h, 7d)") != std::string::npos);
  }
}

TEST_CASE("times are shown as short as is clear beside now") {
  Utc utc;
  CHECK(FormatWhen(kNow - 3600'000, kNow) == "15:30:00");
  CHECK(FormatWhen(kNow - 86400'000, kNow) == "12-04 16:30");
  CHECK(FormatWhen(kNow - 400 * 86400'000LL, kNow) == "2025-10-31");
  CHECK(FormatWhen(0, kNow) == "-");
}

}  // namespace
}  // namespace drover::submit
