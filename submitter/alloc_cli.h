// The `submit alloc` commands on the command line: add, list, info, remove
// and resume, the broker's allocation queues (docs/submit.md, "Allocation
// queues"), and the AllocRequest each one makes. Kept out of main.cc so that
// tests parse real command lines with it (what lands after `--`, what the
// help says); main.cc gives each command --broker and the key options, and
// sends the request (RunAlloc, beside `worker drain`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shared/protocol.h"
#include "shared/status.h"
#include "submitter/alloc_command.h"

namespace CLI {
class App;
}

namespace drover::submit {

class AllocCli {
 public:
  // Adds `alloc` and its five commands to `app`; returns `alloc`.
  // REQUIRES: called once; this object outlives the parse (CLI11 writes
  // into it).
  CLI::App* AddTo(CLI::App* app);

  // The five commands, for options they all take.
  std::vector<CLI::App*> commands() const { return {add_, list_, info_, remove_, resume_}; }
  // Whether one of them was on the command line.
  bool parsed() const;
  // "alloc add" and so on, for messages. REQUIRES: parsed()
  std::string command_name() const;
  // The request for the command on the command line; for `add`, an error
  // naming the flag that is wrong (AllocParamsFromFlags).
  // REQUIRES: parsed()
  Result<AllocRequest> Request() const;

  const AllocAddFlags& add_flags() const { return add_flags_; }

 private:
  CLI::App* add_ = nullptr;
  CLI::App* list_ = nullptr;
  CLI::App* info_ = nullptr;
  CLI::App* remove_ = nullptr;
  CLI::App* resume_ = nullptr;
  AllocAddFlags add_flags_;
  uint32_t queue_ = 0;  // the ID of info, remove and resume
  bool now_ = false;    // remove --now
};

}  // namespace drover::submit
