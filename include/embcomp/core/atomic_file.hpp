// Crash-safe file replacement: a reader of `path` (or a process started after a crash, a kill or
// a power cut) finds either its previous content or the complete new one, never a mix or a
// truncated file. Every checkpoint, the data cache's metadata and the command line's JSON go
// through it.
#pragma once

#include <functional>
#include <iosfwd>
#include <string>

namespace embcomp {

/// Writes `path` through `write`, which fills a binary stream: the bytes go to "<path>.tmp",
/// which is flushed, synced to disk (fsync), renamed over `path` and made durable by syncing the
/// directory. If `write` throws or any step fails, the temporary file is removed, `path` keeps
/// its previous content and the exception propagates (a failed step throws Error naming the
/// file and the system's reason). A process killed while writing leaves at most "<path>.tmp",
/// which the next write replaces.
///
/// Fault injection for the crash tests (tests/cli/crash_safe_checkpoint.sh): with
/// EMBCOMP_FAULT_KILL_FILE=<path> and EMBCOMP_FAULT_KILL_AT=<n>,<byte>, the n-th write (from 1)
/// of that path in this process sends itself SIGKILL once <byte> bytes have been written.
void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write);

}  // namespace embcomp
