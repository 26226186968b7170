// Durations as people write them on command lines (`worker --time-limit`,
// `--idle-timeout`), and as Slurm prints them, in milliseconds.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace drover {

// Seconds ("90", "1.5"), a number with a unit ("90s", "15m", "2h", "1d"), or
// Slurm's time formats: "MM:SS", "HH:MM:SS", "D-HH", "D-HH:MM",
// "D-HH:MM:SS" (what `squeue -o %L` prints for the time a job has left).
// nullopt for anything else, including negative values, and Slurm's words
// for no limit ("UNLIMITED", "NOT_SET", "INVALID").
std::optional<int64_t> ParseDurationMs(std::string_view text);

// For messages: "45s", "12m", "2h30m", "3d4h"; whole seconds, two units at
// most.
std::string ShortDuration(int64_t ms);

}  // namespace drover
