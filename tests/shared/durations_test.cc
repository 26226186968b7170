#include "shared/durations.h"

#include <doctest/doctest.h>

namespace drover {

TEST_CASE("ParseDurationMs reads seconds, units and Slurm's time formats") {
  CHECK(ParseDurationMs("90") == 90'000);
  CHECK(ParseDurationMs("1.5") == 1'500);
  CHECK(ParseDurationMs("90s") == 90'000);
  CHECK(ParseDurationMs("15m") == 900'000);
  CHECK(ParseDurationMs("2h") == 7'200'000);
  CHECK(ParseDurationMs("1d") == 86'400'000);
  CHECK(ParseDurationMs("0") == 0);
  // Slurm: MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS.
  CHECK(ParseDurationMs("05:30") == 330'000);
  CHECK(ParseDurationMs("1:02:03") == 3'723'000);
  CHECK(ParseDurationMs("2-03") == (2 * 24 + 3) * 3'600'000LL);
  CHECK(ParseDurationMs("2-03:04") == ((2 * 24 + 3) * 60 + 4) * 60'000LL);
  CHECK(ParseDurationMs("1-00:00:10") == 86'410'000);
}

TEST_CASE("ParseDurationMs refuses what is not a duration") {
  for (const char* bad : {"", "-5", "h", "5x", "1.5.2", "1:2:3:4", "10:", ":10", "1-", "a-10",
                          "UNLIMITED", "NOT_SET", "inf", "nan", "1e400"}) {
    CAPTURE(bad);
    CHECK_FALSE(ParseDurationMs(bad).has_value());
  }
}

TEST_CASE("ShortDuration shows at most two units") {
  CHECK(ShortDuration(0) == "0s");
  CHECK(ShortDuration(45'000) == "45s");
  CHECK(ShortDuration(60'000) == "1m");
  CHECK(ShortDuration(9'000'000) == "2h30m");
  CHECK(ShortDuration(7'200'000) == "2h");
  CHECK(ShortDuration(86'400'000 + 4 * 3'600'000 + 60'000) == "1d4h");
}

}  // namespace drover
