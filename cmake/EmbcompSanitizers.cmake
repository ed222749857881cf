# EMBCOMP_SANITIZE=address,undefined | thread: every target of this build (library, tests,
# tools) compiled and linked with those sanitizers, stopping at the first report. The presets
# `asan` and `tsan` (CMakePresets.json) and scripts/sanitize.sh use it.
if(EMBCOMP_SANITIZE)
  if(EMBCOMP_SANITIZE MATCHES "thread" AND EMBCOMP_SANITIZE MATCHES "address")
    message(FATAL_ERROR "EMBCOMP_SANITIZE=${EMBCOMP_SANITIZE}: thread and address cannot be combined")
  endif()
  if(EMBCOMP_SANITIZE MATCHES "thread" AND NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    # GCC's libgomp is not instrumented: every OpenMP barrier would be reported as a race.
    # clang's libomp with its Archer tool (OMP_TOOL_LIBRARIES=libarcher.so) tells TSan about them.
    message(FATAL_ERROR "EMBCOMP_SANITIZE=thread needs clang and libomp (libomp-14-dev): configure "
                        "with -DCMAKE_CXX_COMPILER=clang++ (this compiler is ${CMAKE_CXX_COMPILER_ID})")
  endif()
  add_compile_options(-fsanitize=${EMBCOMP_SANITIZE} -fno-omit-frame-pointer
                      -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${EMBCOMP_SANITIZE})
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    # The instrumentation keeps some `#pragma omp simd` loops from vectorizing, which clang
    # reports; it says nothing about the code.
    add_compile_options(-Wno-pass-failed)
  endif()
  message(STATUS "embcomp: sanitizers ${EMBCOMP_SANITIZE}")
endif()
