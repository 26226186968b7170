// Process limits the daemons raise at start-up.
#pragma once

namespace drover {

// Raises the soft limit on open files to the hard limit: a broker holds one
// socket per peer, a worker three pipes per running step.
void RaiseOpenFileLimit();

// Opens /dev/null on whichever of fds 0, 1 and 2 is closed, so that no file
// the program opens later lands there (children's stdio is set up by fd
// number).
void EnsureStandardFds();

}  // namespace drover
