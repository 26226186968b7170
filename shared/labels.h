// Labels: what a worker offers (`worker --label`, and the workers of an
// allocation queue, `submit alloc add --label`) and a step `requires`
// (docs/jobs.md). One home for their grammar, so that a label a worker may
// have is one a step may ask for.
#pragma once

#include <string_view>

namespace drover {

// One or more letters, digits and _ . : = + -. (Length is checked apart,
// where there is a limit: job files, shared/job_draft.h.)
bool IsLabel(std::string_view label);
inline constexpr const char* kLabelRule = "letters, digits and _ . : = + -";

}  // namespace drover
