# Runs `embcomp sweep` on a tiny synthetic grid (a feasible and an infeasible cell per method)
# and checks the CSV, JSON, Markdown and plot it leaves.
file(REMOVE_RECURSE "${OUT}")
execute_process(
  COMMAND "${EMBCOMP}" sweep --scale 0.0002 --train-rows 3000 --val-rows 1000 --test-rows 1000
          --methods full hash:tables=per_field/shared int16 --ratios 2,1000 --dim 8 --batch 128 --lr 0.005 --epochs 1
          --evals-per-epoch 2 --threads 2 --out "${OUT}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "embcomp sweep exited with ${rc}")
endif()
foreach(name results.csv results.json results.md test_auc_dlrm.dat test_auc_dlrm.gp)
  if(NOT EXISTS "${OUT}/${name}")
    message(FATAL_ERROR "embcomp sweep did not write ${OUT}/${name}")
  endif()
endforeach()
if(GNUPLOT AND NOT EXISTS "${OUT}/test_auc_dlrm.png")
  message(FATAL_ERROR "gnuplot is installed but the sweep wrote no test_auc_dlrm.png")
endif()

# full once at 1x, hash and int16 at 2x and 1000x: 5 records. hash (chosen on validation between
# per-field and shared tables) reaches both; int16 falls
# short of 2x by its 8-byte scale pair, so it runs at its own highest ratio (just under 2x),
# and cannot reach 1000x.
file(READ "${OUT}/results.json" results)
string(JSON count LENGTH "${results}" records)
if(NOT count EQUAL 5)
  message(FATAL_ERROR "results.json has ${count} records, expected 5")
endif()
set(expected_status ok ok ok ok infeasible)
math(EXPR last "${count} - 1")
foreach(i RANGE ${last})
  string(JSON status GET "${results}" records ${i} status)
  list(GET expected_status ${i} want)
  if(NOT status STREQUAL want)
    string(JSON method GET "${results}" records ${i} method)
    message(FATAL_ERROR "record ${i} (${method}) has status ${status}, expected ${want}")
  endif()
endforeach()
string(JSON hash_ratio GET "${results}" records 2 ratio)
if(hash_ratio LESS 1000)
  message(FATAL_ERROR "hash at 1000x reports a real ratio of ${hash_ratio}: over the budget")
endif()

file(STRINGS "${OUT}/results.csv" csv)
list(LENGTH csv lines)
if(NOT lines EQUAL 6)
  message(FATAL_ERROR "results.csv has ${lines} lines, expected a header and 5 records")
endif()
file(READ "${OUT}/results.md" md)
string(JSON int16_ratio GET "${results}" records 3 ratio)
string(JSON int16_note GET "${results}" records 3 note)
if(int16_ratio LESS 1.98 OR int16_ratio GREATER_EQUAL 2 OR NOT int16_note MATCHES "highest ratio")
  message(FATAL_ERROR "int16 at 2x: ratio ${int16_ratio}, note '${int16_note}'")
endif()
if(NOT md MATCHES "\\| int16 \\|[^\n]*infeasible \\(<= 1\\.99")
  message(FATAL_ERROR "results.md does not show int16 at 1000x as infeasible with its limit:\n${md}")
endif()

# hash at 2x trained both variants and kept the one with the better validation AUC; at 1000x
# per-field tables cannot fit 26 fields, so the shared variant is the only candidate.
set(cell "${OUT}/runs/dlrm_hash-tables-per_field-shared_2x")
file(READ "${cell}/v0/summary.json" v0)
file(READ "${cell}/v1/summary.json" v1)
string(JSON v0_auc GET "${v0}" validation auc)
string(JSON v1_auc GET "${v1}" validation auc)
string(JSON chosen_auc GET "${results}" records 1 validation_auc)
string(JSON chosen_note GET "${results}" records 1 note)
if(v0_auc GREATER v1_auc)
  set(best ${v0_auc})
else()
  set(best ${v1_auc})
endif()
if(NOT chosen_auc EQUAL best OR NOT chosen_note MATCHES "chosen on validation among 2")
  message(FATAL_ERROR "hash at 2x kept validation AUC ${chosen_auc} ('${chosen_note}'), the best of ${v0_auc} and ${v1_auc} is ${best}")
endif()
string(JSON chosen_1000 GET "${results}" records 2 note)
if(NOT chosen_1000 MATCHES "tables=shared")
  message(FATAL_ERROR "hash at 1000x: '${chosen_1000}', expected the shared-table variant")
endif()

# A method that reaches none of the grid's ratios (int16 against 10x and 1000x) runs at its own
# highest ratio in its first cell; the larger ratio is then known to be infeasible and is
# recorded without training (no runs/ directory). The default grid's slow cells are skipped
# only when no --methods are given, so none here.
file(REMOVE_RECURSE "${OUT}/fallback")
execute_process(
  COMMAND "${EMBCOMP}" sweep --scale 0.0002 --train-rows 3000 --val-rows 1000 --test-rows 1000
          --methods int16 --ratios 10,1000 --dim 8 --epochs 1 --evals-per-epoch 1 --threads 2
          --no-plot --out "${OUT}/fallback"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "embcomp sweep (fallback) exited with ${rc}:\n${out}${err}")
endif()
file(READ "${OUT}/fallback/results.json" fallback)
string(JSON first_status GET "${fallback}" records 0 status)
string(JSON first_note GET "${fallback}" records 0 note)
string(JSON second_status GET "${fallback}" records 1 status)
string(JSON second_limit GET "${fallback}" records 1 limit_ratio)
if(NOT first_status STREQUAL "ok" OR NOT first_note MATCHES "highest ratio" OR
   NOT second_status STREQUAL "infeasible" OR second_limit GREATER_EQUAL 2)
  message(FATAL_ERROR "int16 at 10x/1000x: ${first_status} '${first_note}', then ${second_status} (limit ${second_limit})")
endif()
string(JSON known ERROR_VARIABLE no_known GET "${fallback}" records 1 limit_known)
if(NOT known)
  message(FATAL_ERROR "int16 at 1000x was built again although its limit was known")
endif()
