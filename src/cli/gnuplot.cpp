#include "gnuplot.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace embcomp::cli {

namespace {

/// The search path: $PATH, or the system's default when it is unset.
std::string search_path() {
  if (const char* path = std::getenv("PATH")) return path;
  std::string fallback(::confstr(_CS_PATH, nullptr, 0), '\0');
  if (fallback.empty()) return "/bin:/usr/bin";
  ::confstr(_CS_PATH, fallback.data(), fallback.size());
  fallback.pop_back();  // the terminating NUL confstr wrote
  return fallback;
}

/// Starts `program` with `argv` (argv[0] included) in `directory`, its standard error joined to
/// standard output, and waits. Returns its exit status, or -1 when it did not start or exit.
int run_in(const std::filesystem::path& directory, const std::filesystem::path& program,
           std::vector<std::string> argv) {
  // Everything the child touches is prepared here: between fork and exec a threaded process
  // may only make async-signal-safe calls (chdir, dup2, execv, _exit).
  std::vector<char*> args;
  for (std::string& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);
  const std::string where = directory.string();
  const std::string what = program.string();
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (::chdir(where.c_str()) == 0 && ::dup2(STDOUT_FILENO, STDERR_FILENO) >= 0) {
      ::execv(what.c_str(), args.data());
    }
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

std::string gnuplot_string(std::string_view text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("''") : std::string(1, c);
  return quoted + '\'';
}

std::filesystem::path find_in_path(const std::string& name) {
  const std::string path = search_path();
  std::size_t begin = 0;
  while (begin <= path.size()) {
    const std::size_t colon = std::min(path.find(':', begin), path.size());
    const std::string directory = path.substr(begin, colon - begin);
    const std::filesystem::path candidate =
        std::filesystem::path(directory.empty() ? "." : directory) / name;  // "" is the cwd
    std::error_code error;
    if (std::filesystem::is_regular_file(candidate, error) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return std::filesystem::absolute(candidate);  // the child runs elsewhere
    }
    begin = colon + 1;
  }
  return {};
}

GnuplotRun run_gnuplot(const std::filesystem::path& directory, const std::string& script) {
  const std::filesystem::path gnuplot = find_in_path("gnuplot");
  if (gnuplot.empty()) return GnuplotRun::not_installed;
  return run_in(directory, gnuplot, {"gnuplot", script}) == 0 ? GnuplotRun::rendered
                                                              : GnuplotRun::failed;
}

}  // namespace embcomp::cli
