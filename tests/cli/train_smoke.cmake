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

# Without --ratio every method trains: at 10x, or at its highest ratio when lower (full 1x,
# int8 just under 4x: its scale costs a few bytes), the README's first train command among them.
foreach(case "full;1;1" "int8;3.9;4" "hash;10;10")
  list(GET case 0 method)
  list(GET case 1 low)
  list(GET case 2 high)
  file(REMOVE_RECURSE "${OUT}/${method}")
  execute_process(
    COMMAND "${EMBCOMP}" train --scale 0.0002 --train-rows 1000 --val-rows 300 --test-rows 300
            --method ${method} --dim 8 --epochs 1 --evals-per-epoch 1 --threads 2
            --out "${OUT}/${method}"
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "embcomp train --method ${method} (no --ratio) exited with ${rc}\n${out}${err}")
  endif()
  file(READ "${OUT}/${method}/summary.json" summary)
  string(JSON requested GET "${summary}" requested_ratio)
  if(requested LESS low OR requested GREATER high)
    message(FATAL_ERROR "${method} without --ratio trained at ${requested}x, expected ${low}-${high}x")
  endif()
endforeach()
