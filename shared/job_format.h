// Which format a job file is in, guessed from its first bytes (the name of
// the file plays no part). Drover reads JSON and MessagePack job files
// (docs/jobs.md); a file in neither gets an answer that says what it looks
// like instead (YAML, JSON with comments, a script, other text), not the
// MessagePack decoder's complaint about its bytes.
//
// The guess never turns away a MessagePack job file: such a file is one map,
// whose first byte is 0x80 or more (0x80-0x8f, 0xde or 0xdf), while every
// answer other than kMsgpack is given only for a file that starts with blank
// space or a printable ASCII character.
#pragma once

#include <cstddef>
#include <string_view>

#include "shared/status.h"

namespace drover {

enum class JobFormat {
  kJson,     // the first character other than blank space is '{' or '['
  kMsgpack,  // anything that does not start like text
};

// The format of a job file's `bytes` (a UTF-8 byte order mark at the start is
// skipped), or why the file is in neither, as a message to print after its
// name:
//   "the job file is empty" (no bytes, or only blank space)
//   "JSON does not allow comments (line 1)" (it starts with "//" or "/*")
//   "looks like YAML; Drover reads JSON or MessagePack job files (docs/jobs.md)"
//   "looks like a script (it starts with \"#!\"), not a job file; ..."
//   "looks like UTF-16 text; ..." (a UTF-16 byte order mark)
//   "starts with \"steps = [\" (text, but not JSON, which starts with \"{\"); ..."
Result<JobFormat> GuessJobFormat(std::string_view bytes);

// The line (counting from 1) of the first comment ("//" or "/*" outside a
// string) that starts before byte `end` of JSON `text`, or 0 if there is
// none. JSON has no comments; a parser stops at the first one, so a parse
// error at or after it is best explained by it.
size_t JsonCommentLine(std::string_view text, size_t end);

}  // namespace drover
