# Sourced by the scripts that configure a build directory, after install-deps.sh (which installs
# ninja-build). A new build directory gets Ninja: one build graph for every target, so a test's
# objects compile while the library's largest file still does; Make builds the targets in turn
# (the ASan build had one core idle for two minutes while registry.cpp compiled). An existing
# directory keeps the generator it was made with (CMake ignores CMAKE_GENERATOR there), and a
# CMAKE_GENERATOR the caller set wins.
if command -v ninja >/dev/null 2>&1; then
  export CMAKE_GENERATOR=${CMAKE_GENERATOR:-Ninja}
fi
