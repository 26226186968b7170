#include "submitter/time_text.h"

#include <cstdio>
#include <ctime>

#include "shared/durations.h"

namespace drover::submit {
namespace {

struct tm LocalTm(int64_t ms) {
  const time_t t = static_cast<time_t>(ms / 1000);
  struct tm out {};
  localtime_r(&t, &out);
  return out;
}

// Reads exactly `digits` digits at *p, moving past them; -1 if not there.
int Digits(std::string_view text, size_t* p, int digits) {
  int value = 0;
  for (int i = 0; i < digits; ++i, ++*p) {
    if (*p >= text.size() || text[*p] < '0' || text[*p] > '9') return -1;
    value = value * 10 + (text[*p] - '0');
  }
  return value;
}

// "HH:MM" or "HH:MM:SS" at *p; false (fields untouched) if not that.
bool ReadClock(std::string_view text, size_t* p, struct tm* out) {
  size_t at = *p;
  const int h = Digits(text, &at, 2);
  if (h < 0 || at >= text.size() || text[at++] != ':') return false;
  const int m = Digits(text, &at, 2);
  if (m < 0) return false;
  int s = 0;
  if (at < text.size() && text[at] == ':') {
    ++at;
    s = Digits(text, &at, 2);
    if (s < 0) return false;
  }
  if (h > 23 || m > 59 || s > 60) return false;
  out->tm_hour = h;
  out->tm_min = m;
  out->tm_sec = s;
  *p = at;
  return true;
}

int64_t MsOf(struct tm t) {
  t.tm_isdst = -1;  // let mktime decide, for the day asked about
  return static_cast<int64_t>(mktime(&t)) * 1000;
}

}  // namespace

Result<int64_t> ParseSince(std::string_view text, int64_t now_ms) {
  const auto bad = [&] {
    return Status::Error("--since " + std::string(text) +
                         ": give a time ago (30m, 2h, 7d), today, yesterday, a date "
                         "(2026-12-05), a date and time (2026-12-05 14:00) or a time today "
                         "(14:00)");
  };
  size_t p = 0;
  struct tm t = LocalTm(now_ms);
  if (text == "today" || text == "yesterday") {
    t.tm_hour = t.tm_min = t.tm_sec = 0;
    if (text == "yesterday") --t.tm_mday;  // mktime carries into the month before
    return MsOf(t);
  }
  if (text.size() >= 10 && text[4] == '-') {
    const int year = Digits(text, &p, 4);
    const bool dash1 = p < text.size() && text[p++] == '-';
    const int month = Digits(text, &p, 2);
    const bool dash2 = p < text.size() && text[p++] == '-';
    const int day = Digits(text, &p, 2);
    if (year < 1970 || !dash1 || !dash2 || month < 1 || month > 12 || day < 1 || day > 31) {
      return bad();
    }
    t.tm_year = year - 1900;
    t.tm_mon = month - 1;
    t.tm_mday = day;
    t.tm_hour = t.tm_min = t.tm_sec = 0;
    if (p < text.size()) {
      if (text[p] != ' ' && text[p] != 'T') return bad();
      ++p;
      if (!ReadClock(text, &p, &t) || p != text.size()) return bad();
    }
    return MsOf(t);
  }
  if (ReadClock(text, &p, &t)) {
    if (p != text.size()) return bad();
    return MsOf(t);
  }
  // Durations, but not Slurm's forms ("1-12", "10:00"): with --since, a
  // dash or colon means a date or a time of day, read above if well formed.
  if (text.find_first_of(":-") != std::string_view::npos) return bad();
  std::optional<int64_t> ago = ParseDurationMs(text);
  if (!ago) return bad();
  return now_ms - *ago;
}

std::string FormatWhen(int64_t ms, int64_t now_ms) {
  if (ms <= 0) return "-";
  const struct tm t = LocalTm(ms);
  const struct tm now = LocalTm(now_ms);
  char buf[32];
  if (t.tm_year == now.tm_year && t.tm_yday == now.tm_yday) {
    strftime(buf, sizeof buf, "%H:%M:%S", &t);
  } else if (t.tm_year == now.tm_year) {
    strftime(buf, sizeof buf, "%m-%d %H:%M", &t);
  } else {
    strftime(buf, sizeof buf, "%Y-%m-%d", &t);
  }
  return buf;
}

}  // namespace drover::submit
