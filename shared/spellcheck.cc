#include "shared/spellcheck.h"

#include <algorithm>
#include <array>
#include <cstdlib>

namespace drover {
namespace {

// Typos worth suggesting a fix for are a few keystrokes; beyond that, a
// suggestion is more likely noise than help.
constexpr int kMaxSuggestDistance = 3;

// EditDistance keeps its table on the stack; bounds past this are clamped.
constexpr int kMaxBand = 15;

}  // namespace

int EditDistance(std::string_view a, std::string_view b, int max_distance) {
  // Only cells within max_distance of the diagonal can hold a distance within
  // the bound, so the table is a band of 2 * max_distance + 1 cells per row;
  // anything outside it counts as "too far".
  max_distance = std::clamp(max_distance, 0, kMaxBand);
  const int too_far = max_distance + 1;
  const int m = static_cast<int>(a.size());
  const int n = static_cast<int>(b.size());
  if (std::abs(m - n) > max_distance) return too_far;
  const int width = 2 * max_distance + 1;
  // row[k + 1] holds the distance of a[0..i) to b[0..i - max_distance + k);
  // row[0] and row[width + 1] stay "too far" so the edges need no tests.
  std::array<int, 2 * kMaxBand + 3> prev, row;
  prev.fill(too_far);
  row.fill(too_far);
  for (int k = 0; k < width; ++k) {
    const int j = k - max_distance;
    if (j >= 0 && j <= n) prev[k + 1] = j;
  }
  for (int i = 1; i <= m; ++i) {
    int best = too_far;
    for (int k = 0; k < width; ++k) {
      const int j = i - max_distance + k;
      int d = too_far;
      if (j == 0) {
        d = i;
      } else if (j > 0 && j <= n) {
        // prev is shifted by one: prev[k + 1] is (i - 1, j - 1) there.
        const int replace = prev[k + 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
        const int del = prev[k + 2] + 1;  // (i - 1, j)
        const int ins = row[k] + 1;       // (i, j - 1)
        d = std::min({replace, del, ins, too_far});
      }
      row[k + 1] = d;
      best = std::min(best, d);
    }
    if (best > max_distance) return too_far;
    std::swap(prev, row);
  }
  return std::min(prev[n - m + max_distance + 1], too_far);
}

std::optional<std::string_view> SpellcheckString(std::string_view text,
                                                 const std::vector<std::string_view>& words) {
  const int limit = std::min<int>(kMaxSuggestDistance, static_cast<int>(text.size()) - 1);
  if (limit < 1) return std::nullopt;
  std::optional<std::string_view> best;
  int best_distance = limit + 1;
  for (std::string_view word : words) {
    const int distance = EditDistance(text, word, best_distance - 1);
    if (distance < best_distance) {
      best = word;
      best_distance = distance;
      if (distance == 1) break;  // nothing but the word itself comes closer
    }
  }
  return best;
}

}  // namespace drover
