// The field a person most likely meant by an unknown field name, beyond a
// typo: the name other tools give it (a step's "command" in Compose,
// "depends_on", "environment", "workdir") or ours in another case. Internal
// to the job loader (shared/job_draft.h); the spellchecker's "did you mean"
// (shared/spellcheck.h) is the fallback for what this does not know.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace drover {

// The word of `words` that `name` stands for: `name` itself in another case
// or with "-" for "_" ("Stdin-From" is "stdin_from"), else the field a
// known synonym names ("depends_on" is "after"), if it is one of `words`.
// nullopt if neither. Callers pass the fields allowed where `name` is, so a
// hint never names one that is not allowed there.
std::optional<std::string_view> FieldSynonym(std::string_view name,
                                             const std::vector<std::string_view>& words);

}  // namespace drover
