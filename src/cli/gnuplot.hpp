// gnuplot from the command line: its string quoting, and running it on a script without a shell,
// so that no path or name is ever read by /bin/sh.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace embcomp::cli {

/// `text` as a single-quoted gnuplot string: "it's" -> "'it''s'". Between single quotes gnuplot
/// reads no escapes and a doubled quote stands for one, so any text without a newline survives.
std::string gnuplot_string(std::string_view text);

/// The absolute path of the first executable regular file `name` in the directories of $PATH
/// (the POSIX default path when it is unset), or an empty path.
std::filesystem::path find_in_path(const std::string& name);

/// How a gnuplot run ended.
enum class GnuplotRun { rendered, not_installed, failed };

/// Runs `gnuplot <script>` in `directory` (its working directory; `script` is a file name in it,
/// and the files the script names are relative to it), argv-only: no shell. gnuplot's output
/// and errors go to standard output. Returns not_installed when $PATH holds no gnuplot, failed
/// when it cannot start or exits with a non-zero status.
GnuplotRun run_gnuplot(const std::filesystem::path& directory, const std::string& script);

}  // namespace embcomp::cli
