# `embcomp sweep --jobs 2` (two runs side by side, one thread each) against --jobs 1 with two
# threads on the same tiny grid: results do not depend on the thread count, so every record
# must be the same but the timing columns, in the same (grid) order. adaembed counts ids on
# first use (Data::training_counts, shared by the two jobs); qr finds its limit at 2x, which
# decides its 1000x cell in the same job. Small enough for the ASan build (scripts/sanitize.sh).
file(REMOVE_RECURSE "${OUT}")
set(common sweep --scale 0.0002 --train-rows 1500 --val-rows 500 --test-rows 500
    --methods full hash:tables=per_field/shared adaembed qr --ratios 2,1000 --dim 8
    --batch 128 --lr 0.005 --epochs 1 --evals-per-epoch 2 --no-plot)
foreach(run IN ITEMS one two)
  if(run STREQUAL "one")
    set(jobs --jobs 1 --threads 2)
  else()
    set(jobs --jobs 2 --threads 1)
  endif()
  execute_process(COMMAND "${EMBCOMP}" ${common} ${jobs} --out "${OUT}/${run}"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("${out}${err}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "embcomp sweep ${jobs} exited with ${rc}")
  endif()
  file(READ "${OUT}/${run}/results.json" results_${run})
endforeach()
if(NOT out MATCHES "2 side by side with 1 thread")
  message(FATAL_ERROR "sweep --jobs 2 did not say it runs 2 side by side")
endif()

string(JSON jobs GET "${results_two}" jobs)
if(NOT jobs EQUAL 2)
  message(FATAL_ERROR "results.json of --jobs 2 records jobs ${jobs}")
endif()
string(JSON count LENGTH "${results_one}" records)
string(JSON count_two LENGTH "${results_two}" records)
# full at 1x; hash, adaembed and qr at 2x and 1000x
if(NOT count EQUAL 7 OR NOT count_two EQUAL 7)
  message(FATAL_ERROR "records: ${count} with --jobs 1, ${count_two} with --jobs 2; expected 7")
endif()
math(EXPR last "${count} - 1")
foreach(i RANGE ${last})
  foreach(key method requested_ratio status note spec ratio serving_bytes validation_auc
              validation_logloss test_auc test_logloss steps)
    string(JSON a ERROR_VARIABLE missing GET "${results_one}" records ${i} ${key})
    string(JSON b ERROR_VARIABLE missing_two GET "${results_two}" records ${i} ${key})
    if(NOT "${a}" STREQUAL "${b}" OR NOT "${missing}" STREQUAL "${missing_two}")
      message(FATAL_ERROR "record ${i}, ${key}: '${a}' with --jobs 1, '${b}' with --jobs 2")
    endif()
  endforeach()
endforeach()
string(JSON status GET "${results_two}" records 6 status)
if(NOT status STREQUAL "infeasible")
  message(FATAL_ERROR "qr at 1000x: status ${status}, expected infeasible")
endif()
