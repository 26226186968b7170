#include "shared/labels.h"

#include <algorithm>

namespace drover {

bool IsLabel(std::string_view label) {
  return !label.empty() && std::all_of(label.begin(), label.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == ':' || c == '=' || c == '+' || c == '-';
  });
}

}  // namespace drover
