#include "shared/durations.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <vector>

namespace drover {
namespace {

// A whole number of at most 9 digits.
std::optional<int64_t> Whole(std::string_view text) {
  if (text.empty() || text.size() > 9) return std::nullopt;
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// "D-HH:MM:SS" and its shorter forms, as Slurm writes them.
std::optional<int64_t> SlurmTime(std::string_view text) {
  int64_t days = 0;
  const bool has_days = text.find('-') != std::string_view::npos;
  if (has_days) {
    const size_t dash = text.find('-');
    auto d = Whole(text.substr(0, dash));
    if (!d) return std::nullopt;
    days = *d;
    text.remove_prefix(dash + 1);
  }
  std::vector<int64_t> parts;
  for (;;) {
    const size_t colon = text.find(':');
    auto part = Whole(text.substr(0, colon));
    if (!part) return std::nullopt;
    parts.push_back(*part);
    if (colon == std::string_view::npos) break;
    text.remove_prefix(colon + 1);
  }
  if (parts.size() > 3 || (!has_days && parts.size() < 2)) return std::nullopt;
  int64_t hours = 0, minutes = 0, seconds = 0;
  if (has_days) {
    hours = parts[0];
    if (parts.size() > 1) minutes = parts[1];
    if (parts.size() > 2) seconds = parts[2];
  } else if (parts.size() == 2) {
    minutes = parts[0], seconds = parts[1];
  } else {
    hours = parts[0], minutes = parts[1], seconds = parts[2];
  }
  return (((days * 24 + hours) * 60 + minutes) * 60 + seconds) * 1000;
}

}  // namespace

std::optional<int64_t> ParseDurationMs(std::string_view text) {
  if (text.empty()) return std::nullopt;
  if (text.find_first_of(":-") != std::string_view::npos) return SlurmTime(text);
  double scale = 1000;
  switch (text.back()) {
    case 's': scale = 1000; text.remove_suffix(1); break;
    case 'm': scale = 60'000; text.remove_suffix(1); break;
    case 'h': scale = 3'600'000; text.remove_suffix(1); break;
    case 'd': scale = 86'400'000; text.remove_suffix(1); break;
    default: break;
  }
  if (text.empty() || text.size() > 12) return std::nullopt;
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value) ||
      value < 0 || value * scale > 1e15) {
    return std::nullopt;
  }
  return static_cast<int64_t>(std::llround(value * scale));
}

std::string ShortDuration(int64_t ms) {
  const int64_t total = std::max<int64_t>(ms, 0) / 1000;
  constexpr int64_t kUnits[] = {86'400, 3'600, 60, 1};
  constexpr const char* kNames[] = {"d", "h", "m", "s"};
  for (int i = 0; i < 4; ++i) {
    const int64_t n = total / kUnits[i];
    if (n == 0 && i < 3) continue;
    std::string out = std::to_string(n) + kNames[i];
    if (i < 3) {  // the next unit, when not zero: "2h30m"
      const int64_t next = total % kUnits[i] / kUnits[i + 1];
      if (next > 0) out += std::to_string(next) + kNames[i + 1];
    }
    return out;
  }
  return "0s";
}

}  // namespace drover
