#include "shared/job_synonyms.h"

#include <algorithm>
#include <string>
#include <utility>

namespace drover {
namespace {

// Other tools' names for our fields (GitHub Actions, GitLab CI, Compose,
// Make, Slurm, PBS), written lower case with "_". Most are too far from ours
// in spelling for the spellchecker ("command" is four edits from "cmd",
// "needs" nowhere near "after"). Not here: "requires", a field of ours (the
// labels a worker must carry), and "timeout", also ours.
constexpr std::pair<std::string_view, std::string_view> kSynonyms[] = {
    // Job fields.
    {"tasks", "steps"},
    {"jobs", "steps"},
    // Step fields.
    {"command", "cmd"},
    {"run", "cmd"},
    {"script", "cmd"},
    {"args", "argv"},
    {"arguments", "argv"},
    {"depends_on", "after"},
    {"depends", "after"},
    {"dependencies", "after"},
    {"deps", "after"},
    {"needs", "after"},
    {"environment", "env"},
    {"workdir", "cwd"},
    {"working_dir", "cwd"},
    {"working_directory", "cwd"},
    {"dir", "cwd"},
    {"directory", "cwd"},
    {"retry", "retries"},
    {"max_retries", "retries"},
    {"time_limit", "timeout"},
    {"walltime", "timeout"},
};

std::string Normalized(std::string_view name) {
  std::string key(name);
  for (char& c : key) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c == '-') c = '_';
  }
  return key;
}

}  // namespace

std::optional<std::string_view> FieldSynonym(std::string_view name,
                                             const std::vector<std::string_view>& words) {
  const std::string key = Normalized(name);
  const auto allowed = [&](std::string_view word) -> std::optional<std::string_view> {
    const auto it = std::find(words.begin(), words.end(), word);
    if (it == words.end()) return std::nullopt;
    return *it;
  };
  if (key != name) {
    if (auto word = allowed(key)) return word;
  }
  for (const auto& [other, ours] : kSynonyms) {
    if (other == key) return allowed(ours);
  }
  return std::nullopt;
}

}  // namespace drover
