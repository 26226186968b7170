#include "shared/job_array.h"

#include <charconv>
#include <cmath>

namespace drover {
namespace {

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

// The length of the placeholder name that starts at text[i] and is closed by
// a `}`, or 0 when text[i] does not start one.
size_t NameLengthAt(std::string_view text, size_t i) {
  if (i >= text.size() || !IsNameStart(text[i])) return 0;
  size_t end = i + 1;
  while (end < text.size() && IsNameChar(text[end])) ++end;
  return end < text.size() && text[end] == '}' ? end - i : 0;
}

// One pass over `text`: `literal(piece)` for the text between placeholders
// (escaped braces already halved), `placeholder(name, offset)` for each.
template <typename Literal, typename Placeholder>
void Scan(std::string_view text, Literal literal, Placeholder placeholder) {
  size_t start = 0;  // of the literal text not yet handed out
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
      literal(text.substr(start, i + 1 - start));  // up to and with one brace
      i += 2;
      start = i;
      continue;
    }
    if (c == '{' && (i == 0 || text[i - 1] != '$')) {
      if (const size_t length = NameLengthAt(text, i + 1); length > 0) {
        literal(text.substr(start, i - start));
        placeholder(text.substr(i + 1, length), i);
        i += length + 2;
        start = i;
        continue;
      }
    }
    ++i;
  }
  literal(text.substr(start));
}

// The coordinate of parameter `param` in `element`: the parameters after it
// vary faster, so divide by the product of their sizes.
uint64_t Coordinate(const ArraySpec& each, size_t param, uint64_t element) {
  for (size_t p = each.params.size(); p-- > param + 1;) element /= ParamSize(each.params[p]);
  return element % ParamSize(each.params[param]);
}

}  // namespace

bool IsParamName(std::string_view name) {
  if (name.empty() || !IsNameStart(name[0])) return false;
  for (char c : name) {
    if (!IsNameChar(c)) return false;
  }
  return true;
}

uint64_t ParamSize(const ArrayParam& param) {
  if (!param.is_range) return param.values.size();
  // In unsigned arithmetic the distance cannot overflow, whatever the ends.
  if (param.step > 0) {
    if (param.end <= param.begin) return 0;
    const uint64_t distance = static_cast<uint64_t>(param.end) - static_cast<uint64_t>(param.begin);
    const uint64_t step = static_cast<uint64_t>(param.step);
    return distance / step + (distance % step != 0);
  }
  if (param.step == 0 || param.end >= param.begin) return 0;
  const uint64_t distance = static_cast<uint64_t>(param.begin) - static_cast<uint64_t>(param.end);
  const uint64_t step = uint64_t{0} - static_cast<uint64_t>(param.step);
  return distance / step + (distance % step != 0);
}

uint64_t ElementCount(const ArraySpec& each) {
  uint64_t count = 1;
  for (const ArrayParam& param : each.params) {
    const uint64_t size = ParamSize(param);
    if (size != 0 && count > UINT64_MAX / size) return UINT64_MAX;
    count *= size;
  }
  return count;
}

std::vector<uint64_t> Shape(const ArraySpec& each) {
  std::vector<uint64_t> shape;
  for (const ArrayParam& param : each.params) shape.push_back(ParamSize(param));
  return shape;
}

std::string ParamValue(const ArraySpec& each, size_t param, uint64_t element) {
  const ArrayParam& p = each.params[param];
  const uint64_t k = Coordinate(each, param, element);
  if (!p.is_range) return p.values[k];
  // begin + k * step, in unsigned arithmetic (wraps like two's complement).
  const uint64_t value = static_cast<uint64_t>(p.begin) + k * static_cast<uint64_t>(p.step);
  return std::to_string(static_cast<int64_t>(value));
}

bool PlaceholderValue(const ArraySpec& each, std::string_view name, uint64_t element,
                      std::string* value) {
  if (name == kIndexPlaceholder) {
    *value = std::to_string(element);
    return true;
  }
  for (size_t p = 0; p < each.params.size(); ++p) {
    if (each.params[p].name == name) {
      *value = ParamValue(each, p, element);
      return true;
    }
  }
  return false;
}

void ForEachPlaceholder(std::string_view text,
                        const std::function<void(std::string_view, size_t)>& found) {
  Scan(
      text, [](std::string_view) {}, found);
}

bool NeedsRendering(std::string_view text) {
  bool needs = false;
  size_t literal_bytes = 0;
  Scan(
      text, [&](std::string_view piece) { literal_bytes += piece.size(); },
      [&](std::string_view, size_t) { needs = true; });
  return needs || literal_bytes != text.size();
}

std::string Render(std::string_view text, const ArraySpec& each, uint64_t element) {
  std::string out;
  out.reserve(text.size());
  std::string value;
  Scan(
      text, [&](std::string_view piece) { out.append(piece); },
      [&](std::string_view name, size_t offset) {
        if (PlaceholderValue(each, name, element, &value)) {
          out.append(value);
        } else {
          out.append(text.substr(offset, name.size() + 2));
        }
      });
  return out;
}

std::string ElementId(std::string_view id, const ArraySpec& each, uint64_t element) {
  bool pattern = false;
  ForEachPlaceholder(id, [&](std::string_view, size_t) { pattern = true; });
  if (pattern) return Render(id, each, element);
  return std::string(id) + "[" + std::to_string(element) + "]";
}

namespace {

template <typename Float>
std::string ShortestText(Float value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  std::string text(buffer, result.ptr);
  const size_t e = text.find('e');
  if (e != std::string::npos) {
    // "1e-05" -> "1e-5": exponents as people write them.
    size_t digits = e + 1;
    if (digits < text.size() && (text[digits] == '-' || text[digits] == '+')) ++digits;
    size_t zeros = digits;
    while (zeros + 1 < text.size() && text[zeros] == '0') ++zeros;
    text.erase(digits, zeros - digits);
  } else if (std::isfinite(value) && text.find('.') == std::string::npos) {
    text += ".0";  // it was written as a fraction: 1.0, not 1
  }
  return text;
}

}  // namespace

std::string FractionText(double value) { return ShortestText(value); }
std::string FractionText(float value) { return ShortestText(value); }

}  // namespace drover
