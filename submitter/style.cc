#include "submitter/style.h"

#include <cstring>

namespace drover::submit {

std::optional<ColorMode> ParseColorMode(std::string_view text) {
  if (text == "auto") return ColorMode::kAuto;
  if (text == "always") return ColorMode::kAlways;
  if (text == "never") return ColorMode::kNever;
  return std::nullopt;
}

bool UseColor(ColorMode mode, bool is_terminal, const char* no_color, const char* term) {
  switch (mode) {
    case ColorMode::kAlways:
      return true;
    case ColorMode::kNever:
      return false;
    case ColorMode::kAuto:
      break;
  }
  if (no_color != nullptr && *no_color != '\0') return false;
  if (term != nullptr && std::strcmp(term, "dumb") == 0) return false;
  return is_terminal;
}

std::string Paint(Tone tone, std::string_view text, bool on) {
  const char* code = nullptr;
  switch (tone) {
    case Tone::kPlain:
      break;
    case Tone::kDim:
      code = "\033[2m";
      break;
    case Tone::kRed:
      code = "\033[31m";
      break;
    case Tone::kGreen:
      code = "\033[32m";
      break;
    case Tone::kYellow:
      code = "\033[33m";
      break;
  }
  if (!on || code == nullptr || text.empty()) return std::string(text);
  std::string out = code;
  out += text;
  out += "\033[0m";
  return out;
}

Tone ToneOf(StepState state) {
  switch (state) {
    case StepState::kSucceeded:
      return Tone::kGreen;
    case StepState::kFailed:
      return Tone::kRed;
    case StepState::kSkipped:
    case StepState::kCancelled:
      return Tone::kYellow;
    default:
      return Tone::kPlain;
  }
}

Tone ToneOf(JobState state) {
  switch (state) {
    case JobState::kSucceeded:
      return Tone::kGreen;
    case JobState::kFailed:
      return Tone::kRed;
    case JobState::kCancelled:
      return Tone::kYellow;
    case JobState::kRunning:
      return Tone::kPlain;
  }
  return Tone::kPlain;
}

}  // namespace drover::submit
