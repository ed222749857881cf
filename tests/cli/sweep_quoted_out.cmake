# Runs a one-cell sweep into an --out directory whose name holds a single quote and a space (the
# gnuplot call once pasted --out into a /bin/sh command line, where the quote broke it): the
# results and the plot's .dat/.gp must be there and no gnuplot failure reported. Then the same
# sweep with no gnuplot on PATH: it still succeeds and names the plot script. The PNG itself is
# sweep_quoted_out_plot's check (skipped where gnuplot is not installed).
set(dir "${OUT}/it's a dir")
file(REMOVE_RECURSE "${OUT}")
file(MAKE_DIRECTORY "${OUT}/no-programs")
set(args sweep --scale 0.0002 --train-rows 2000 --val-rows 500 --test-rows 500 --methods hash
         --ratios 10 --dim 8 --epochs 1 --evals-per-epoch 1 --threads 2)

execute_process(COMMAND "${EMBCOMP}" ${args} --out "${dir}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "embcomp sweep --out \"${dir}\" exited with ${rc}")
endif()
foreach(name results.csv results.json results.md test_auc_dlrm.dat test_auc_dlrm.gp)
  if(NOT EXISTS "${dir}/${name}")
    message(FATAL_ERROR "embcomp sweep did not write ${dir}/${name}")
  endif()
endforeach()
if("${out}${err}" MATCHES "gnuplot failed|Syntax error|Unterminated")
  message(FATAL_ERROR "the plot of a sweep into \"${dir}\" failed")
endif()
file(READ "${dir}/results.json" results)
string(JSON count LENGTH "${results}" records)
string(JSON status GET "${results}" records 0 status)
if(NOT count EQUAL 1 OR NOT status STREQUAL "ok")
  message(FATAL_ERROR "results.json has ${count} records, the first '${status}': expected one, ok")
endif()

# No gnuplot on PATH: the sweep succeeds, says so and names the script it left.
set(bare "${dir}/no gnuplot")
execute_process(COMMAND "${CMAKE_COMMAND}" -E env "PATH=${OUT}/no-programs"
                        "${EMBCOMP}" ${args} --out "${bare}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "embcomp sweep without gnuplot exited with ${rc}:\n${out}${err}")
endif()
string(FIND "${out}" "gnuplot is not installed (Debian: gnuplot-nox); the plot script is ${bare}/test_auc_dlrm.gp" said)
if(said EQUAL -1 OR NOT EXISTS "${bare}/results.json" OR EXISTS "${bare}/test_auc_dlrm.png")
  message(FATAL_ERROR "embcomp sweep without gnuplot: expected the results, no PNG and the "
                      "script's path on stdout:\n${out}${err}")
endif()
