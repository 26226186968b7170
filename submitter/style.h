// Colour in `submit`'s human output (docs/submit.md, "Colour"): only what
// Drover itself says is coloured, so that it stands apart from the steps'
// own lines, and sparingly: failures red, successes green, warnings
// (retries, skips, waits, submit's own notices) yellow, step prefixes dim.
// A step's own output is never altered; only its prefix is.
//
// Whether a stream gets colour is decided once, here, from --color, whether
// the stream is a terminal, and the environment: NO_COLOR set to anything
// but "" turns it off unless --color always asks for it (no-color.org: an
// explicit option wins over the variable), as does TERM=dumb.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "shared/states.h"

namespace drover::submit {

enum class ColorMode {
  kAuto,    // on a terminal, unless NO_COLOR or TERM=dumb says otherwise
  kAlways,  // whatever the stream is (for pagers: `submit --color always ... | less -R`)
  kNever,
};

// "auto", "always", "never"; nullopt for anything else.
std::optional<ColorMode> ParseColorMode(std::string_view text);

// Whether a stream gets colour. `no_color` and `term` are the values of
// NO_COLOR and TERM (nullptr: unset).
bool UseColor(ColorMode mode, bool is_terminal, const char* no_color, const char* term);

enum class Tone { kPlain, kDim, kRed, kGreen, kYellow };

// `text` in `tone` (ANSI SGR codes, reset after it) when `on`; else `text`.
std::string Paint(Tone tone, std::string_view text, bool on);

// The tone a step's or a job's state is shown in.
Tone ToneOf(StepState state);
Tone ToneOf(JobState state);

}  // namespace drover::submit
