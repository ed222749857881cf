# Runs `embcomp train` on tiny synthetic data and checks its summary.json.
file(REMOVE_RECURSE "${OUT}")
execute_process(
  COMMAND "${EMBCOMP}" train --scale 0.0002 --train-rows 4000 --val-rows 1000 --test-rows 1000
          --method hash --ratio 4 --dim 8 --batch 128 --optimizer adam --lr 0.005 --epochs 1
          --evals-per-epoch 2 --threads 2 --out "${OUT}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "embcomp train exited with ${rc}")
endif()
foreach(name summary.json metrics.jsonl)
  if(NOT EXISTS "${OUT}/${name}")
    message(FATAL_ERROR "embcomp train did not write ${OUT}/${name}")
  endif()
endforeach()
file(READ "${OUT}/summary.json" summary)
string(JSON test_auc GET "${summary}" test auc)
string(JSON steps GET "${summary}" steps)
if(NOT steps EQUAL 31)
  message(FATAL_ERROR "summary.json: steps ${steps}, expected 31 (4000 rows / 128)")
endif()
if(test_auc LESS_EQUAL 0.5)
  message(FATAL_ERROR "summary.json: test auc ${test_auc} is not above 0.5")
endif()
file(STRINGS "${OUT}/metrics.jsonl" lines)
list(LENGTH lines count)
if(NOT count EQUAL 2)
  message(FATAL_ERROR "metrics.jsonl has ${count} lines, expected 2")
endif()

# A method with statistics (cafe) reports them in summary.json and in the printed report; the
# hot rows in use never exceed the hot rows.
file(REMOVE_RECURSE "${OUT}/cafe")
execute_process(
  COMMAND "${EMBCOMP}" train --scale 0.0002 --train-rows 4000 --val-rows 1000 --test-rows 1000
          --method cafe:threshold=20 --ratio 4 --dim 8 --epochs 1 --evals-per-epoch 1 --threads 2
          --out "${OUT}/cafe"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "embcomp train --method cafe exited with ${rc}")
endif()
file(READ "${OUT}/cafe/summary.json" summary)
string(JSON hot_rows GET "${summary}" table_statistics hot_rows)
string(JSON in_use GET "${summary}" table_statistics hot_rows_in_use)
if(NOT hot_rows GREATER 0 OR in_use LESS 1 OR in_use GREATER hot_rows)
  message(FATAL_ERROR "summary.json: hot_rows_in_use ${in_use} of hot_rows ${hot_rows}")
endif()
if(NOT out MATCHES "table +hot_rows [0-9]+ hot_rows_in_use [0-9]+")
  message(FATAL_ERROR "the report has no table statistics line")
endif()
