// Points in time as `submit` reads them from people (`submit jobs --since`)
// and shows them (`jobs`, `info`, `workers`), in the local time zone. Wall
// clock, ms since the Unix epoch; `now` is passed in so tests fix it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "shared/status.h"

namespace drover::submit {

// A moment given as:
//   - a time ago: "30m", "2h", "7d", "90s", "1.5h" (ParseDurationMs units);
//   - "today" or "yesterday", from its start;
//   - a date, its start: "2026-12-05";
//   - a date and time: "2026-12-05 14:00", "2026-12-05T14:00:30";
//   - a time today: "14:00", "09:30:15".
// An error naming the text and the forms for anything else.
Result<int64_t> ParseSince(std::string_view text, int64_t now_ms);

// When `ms` was, as short as is clear beside `now_ms`: "14:03:22" today,
// "12-04 14:03" this year, "2025-12-04" before; "-" for 0 (not known).
std::string FormatWhen(int64_t ms, int64_t now_ms);

}  // namespace drover::submit
