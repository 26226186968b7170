// submitter/progress_line.h: the live progress line fits the terminal's
// width, dropping its least important parts first, and never wraps.

#include "submitter/progress_line.h"

#include <doctest/doctest.h>

#include <string>

namespace drover::submit {
namespace {

ProgressCounts Busy() {
  return ProgressCounts{.job = 7,
                        .name = "nightly-build-of-everything",
                        .done = 123,
                        .total = 4567,
                        .running = 16,
                        .queued = 4400,
                        .failed = 0,
                        .skipped = 0,
                        .elapsed_ms = 754'000};
}

TEST_CASE("a wide terminal shows the whole line") {
  CHECK(ProgressLine(Busy(), 200) ==
        "job 7 (nightly-build-of-everything): 123/4567 done · 16 running · 4400 queued · "
        "0 failed · 0 skipped · 12m34s");
}

TEST_CASE("when it does not fit, the counts that are 0 go first, then the name") {
  CHECK(ProgressLine(Busy(), 100) ==
        "job 7 (nightly-build-of-everything): 123/4567 done · 16 running · 4400 queued · 12m34s");
  CHECK(ProgressLine(Busy(), 80) == "job 7: 123/4567 done · 16 running · 4400 queued · 12m34s");
}

TEST_CASE("every width from 2 to 200 gives a line that fits, keeping what matters longest") {
  ProgressCounts c = Busy();
  c.failed = 2;
  c.skipped = 3;
  for (size_t width = 2; width <= 200; ++width) {
    const std::string line = ProgressLine(c, width);
    INFO("width " << width << ": " << line);
    CHECK(DisplayColumns(line) <= width - 1);
    if (width > 30) {
      CHECK(line.find("123/4567 done") != std::string::npos);
      CHECK(line.find("2 failed") != std::string::npos);
    }
  }
  CHECK(ProgressLine(c, 1).empty());
  CHECK(ProgressLine(c, 0).empty());
}

TEST_CASE("the parts go in their order as the terminal narrows") {
  ProgressCounts c = Busy();
  c.failed = 2;
  c.skipped = 3;
  CHECK(ProgressLine(c, 80) ==
        "job 7: 123/4567 done · 16 running · 4400 queued · 2 failed · 3 skipped · 12m34s");
  CHECK(ProgressLine(c, 70) ==
        "job 7: 123/4567 done · 16 running · 4400 queued · 2 failed · 12m34s");
  CHECK(ProgressLine(c, 60) == "job 7: 123/4567 done · 16 running · 2 failed · 12m34s");
  CHECK(ProgressLine(c, 50) == "job 7: 123/4567 done · 16 running · 2 failed");
  CHECK(ProgressLine(c, 40) == "job 7: 123/4567 done · 2 failed");
  CHECK(ProgressLine(c, 30) == "123/4567 done · 2 failed");
  // "…" counts as two columns: it is double-width in East Asian locales.
  CHECK(ProgressLine(c, 20) == "123/4567 done · 2…");
  CHECK(ProgressLine(c, 3) == "12");
}

TEST_CASE("an unknown time is left out") {
  ProgressCounts c = Busy();
  c.elapsed_ms.reset();
  CHECK(ProgressLine(c, 200).ends_with("0 skipped"));
}

TEST_CASE("a name of wide or control characters cannot make the line wrap") {
  ProgressCounts c = Busy();
  c.name = "ビルド\n\033[2J全部";
  const std::string wide = ProgressLine(c, 200);
  CHECK(wide.find('\n') == std::string::npos);
  CHECK(wide.find('\033') == std::string::npos);
  for (size_t width = 2; width <= 120; ++width) {
    CHECK(DisplayColumns(ProgressLine(c, width)) <= width - 1);
  }
  CHECK(DisplayColumns("ビルド") == 6);
  CHECK(DisplayColumns("a · b") == 5);
  CHECK(DisplayColumns("") == 0);
}

}  // namespace
}  // namespace drover::submit
