# Run by CTest (cmake -P): install -> configure consumer -> build consumer -> run consumer.
# Variables: EMBCOMP_BINARY_DIR, PREFIX, CONSUMER_SOURCE_DIR, CONSUMER_BINARY_DIR, GENERATOR,
# CXX_COMPILER, CONFIG (may be empty for single-config generators).
cmake_minimum_required(VERSION 3.22)

if(NOT CONFIG)
  set(CONFIG Release)
endif()

function(step name)
  message(STATUS "packaging: ${name}: ${ARGN}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "packaging: ${name} failed (${rc})")
  endif()
endfunction()

# Start from nothing, so that a stale install or consumer cache cannot hide a broken package.
file(REMOVE_RECURSE "${PREFIX}" "${CONSUMER_BINARY_DIR}")

step(install ${CMAKE_COMMAND} --install "${EMBCOMP_BINARY_DIR}" --prefix "${PREFIX}"
     --config "${CONFIG}")
step(configure ${CMAKE_COMMAND} -S "${CONSUMER_SOURCE_DIR}" -B "${CONSUMER_BINARY_DIR}"
     -G "${GENERATOR}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "-DCMAKE_BUILD_TYPE=${CONFIG}"
     "-DCMAKE_PREFIX_PATH=${PREFIX}")

# The package must come from the fresh prefix, not from anywhere else on the machine.
file(STRINGS "${CONSUMER_BINARY_DIR}/CMakeCache.txt" found REGEX "^embcomp_DIR:")
string(REGEX REPLACE "^embcomp_DIR:[A-Z]+=" "" found "${found}")
file(REAL_PATH "${PREFIX}" real_prefix)
file(REAL_PATH "${found}" real_found)
string(FIND "${real_found}" "${real_prefix}/" at)
if(NOT at EQUAL 0)
  message(FATAL_ERROR "packaging: find_package(embcomp) used '${found}', not the prefix ${PREFIX}")
endif()
step(build ${CMAKE_COMMAND} --build "${CONSUMER_BINARY_DIR}" --config "${CONFIG}")

find_program(CONSUMER consumer PATHS "${CONSUMER_BINARY_DIR}" "${CONSUMER_BINARY_DIR}/${CONFIG}"
             NO_DEFAULT_PATH REQUIRED)
step(run "${CONSUMER}")
