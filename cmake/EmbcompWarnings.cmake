# Warning flags are set per target, never globally, so consumers of embcomp are unaffected.
# CUDA sources (the nvcc build of cuda/) get nvcc's own warnings and the host compiler's through
# -Xcompiler; -Wpedantic and -Wconversion stay off there, since nvcc's generated host code trips
# them.
function(embcomp_set_warnings target)
  set(cxx_flags -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion)
  set(cuda_flags -Xcompiler=-Wall,-Wextra,-Wshadow)
  if(EMBCOMP_WARNINGS_AS_ERRORS)
    list(APPEND cxx_flags -Werror)
    list(APPEND cuda_flags -Xcompiler=-Werror --Werror=all-warnings)
  endif()
  target_compile_options(${target} PRIVATE "$<$<COMPILE_LANGUAGE:CXX>:${cxx_flags}>"
                                           "$<$<COMPILE_LANGUAGE:CUDA>:${cuda_flags}>")
endfunction()
