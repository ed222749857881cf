# Text files end to end through the command line: a Criteo-format TSV with a planted signal and
# one malformed row -> `embcomp prep` (the row is reported with its line) -> `embcomp train`
# from the cache with a row split and a training checkpoint -> `embcomp info` on the
# checkpoint -> `embcomp train --resume` from it, which must give the same result.
file(REMOVE_RECURSE "${OUT}")
file(MAKE_DIRECTORY "${OUT}")

# 1200 rows: C1 is one of 16 values; the label is 1 exactly for half of them, so C1 alone
# separates the classes. Line 7 has a field missing.
string(RANDOM LENGTH 1 ALPHABET "x" RANDOM_SEED 7 unused)
set(rows "")
foreach(i RANGE 1 1200)
  string(RANDOM LENGTH 1 ALPHABET "0123456789abcdef" c1)
  string(RANDOM LENGTH 3 ALPHABET "0123456789abcdef" c2)
  string(RANDOM LENGTH 1 ALPHABET "0123456789" dense)
  if(c1 MATCHES "[0-7]")
    set(label 1)
  else()
    set(label 0)
  endif()
  set(line "${label}\t${dense}\t\t3\t\t\t\t\t\t\t\t\t\t1\t${c1}\t${c2}")
  foreach(f RANGE 3 26)
    string(APPEND line "\tv${f}")
  endforeach()
  if(i EQUAL 7)
    set(line "1\t2\t3")
  endif()
  string(APPEND rows "${line}\n")
endforeach()
file(WRITE "${OUT}/train.tsv" "${rows}")

function(run_embcomp)
  execute_process(COMMAND "${EMBCOMP}" ${ARGN}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("embcomp ${ARGN}\n${out}${err}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "embcomp ${ARGN} exited with ${rc}")
  endif()
  set(output "${out}${err}" PARENT_SCOPE)
endfunction()

run_embcomp(prep --train "${OUT}/train.tsv" --format criteo --cache "${OUT}/cache")
if(NOT output MATCHES "1199 rows parsed, 1 malformed")
  message(FATAL_ERROR "prep did not report 1199 good rows and 1 malformed row")
endif()
if(NOT output MATCHES "train.tsv:7:")
  message(FATAL_ERROR "prep did not name the malformed row's line")
endif()
if(NOT EXISTS "${OUT}/cache/prep.json")
  message(FATAL_ERROR "prep did not write prep.json")
endif()

set(train_args train --cache "${OUT}/cache" --split rows:800,200 --method hash --ratio 2
    --dim 8 --batch 64 --lr 0.01 --epochs 2 --evals-per-epoch 2 --threads 2)
run_embcomp(${train_args} --checkpoint "${OUT}/run.ckpt" --out "${OUT}/first")
file(READ "${OUT}/first/summary.json" first)
string(JSON first_auc GET "${first}" test auc)
string(JSON test_rows GET "${first}" data test_rows)
if(NOT test_rows EQUAL 199)
  message(FATAL_ERROR "summary.json: ${test_rows} test rows, expected 1199 - 800 - 200 = 199")
endif()
if(first_auc LESS 0.9)
  message(FATAL_ERROR "test AUC ${first_auc}: C1 alone separates the classes")
endif()

run_embcomp(info "${OUT}/run.ckpt")
if(NOT output MATCHES "training checkpoint" OR NOT output MATCHES "hash")
  message(FATAL_ERROR "info does not describe a training checkpoint of hash")
endif()
run_embcomp(info --json "${OUT}/run.ckpt")
string(JSON step GET "${output}" step)
if(NOT step EQUAL 24)
  message(FATAL_ERROR "info --json: step ${step}, expected 2 epochs x 12 steps = 24")
endif()

# The checkpoint holds the finished run: resuming it evaluates the same best state on test.
run_embcomp(${train_args} --resume "${OUT}/run.ckpt" --out "${OUT}/resumed")
file(READ "${OUT}/resumed/summary.json" resumed)
string(JSON resumed_auc GET "${resumed}" test auc)
if(NOT resumed_auc STREQUAL first_auc)
  message(FATAL_ERROR "resumed test AUC ${resumed_auc} differs from ${first_auc}")
endif()

# A damaged checkpoint is a clear error.
file(WRITE "${OUT}/broken.ckpt" "EMBTRAIN not really")
execute_process(COMMAND "${EMBCOMP}" info "${OUT}/broken.ckpt"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "embcomp: ")
  message(FATAL_ERROR "info on a damaged file: exit ${rc}, message:\n${out}${err}")
endif()

# Bad data options are clear errors with exit code 2, naming what is wrong.
function(expect_bad_argument pattern)
  execute_process(COMMAND "${EMBCOMP}" ${ARGN}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 2 OR NOT err MATCHES "${pattern}")
    message(FATAL_ERROR "embcomp ${ARGN}: exit ${rc}, expected 2 and '${pattern}':\n${out}${err}")
  endif()
endfunction()
expect_bad_argument("leaves no test rows"
  train --cache "${OUT}/cache" --split rows:1000,199 --method hash --ratio 2)
expect_bad_argument("unknown --split"
  train --cache "${OUT}/cache" --split halves --method hash --ratio 2)
expect_bad_argument("format cols: 'x' is not a number"
  prep --train "${OUT}/train.tsv" --format schema:cols=x,label=0,cat=1-2 --cache "${OUT}/other")
expect_bad_argument("other inputs"
  train --train "${OUT}/train.tsv" --min-count 2 --cache "${OUT}/cache" --method hash --ratio 2)
expect_bad_argument("--id-order"
  train --train "${OUT}/train.tsv" --id-order first_seen --cache "${OUT}/cache" --method hash
  --ratio 2)
expect_bad_argument("first_seen is for files"
  train --id-order first_seen --method hash --ratio 2 --train-rows 100)

# Ids numbered in first-seen order: recorded in prep.json and the cache, reported by train.
run_embcomp(prep --train "${OUT}/train.tsv" --format criteo --id-order first_seen
            --cache "${OUT}/first_seen")
file(READ "${OUT}/first_seen/prep.json" prep_json)
string(JSON prep_order GET "${prep_json}" id_order)
if(NOT prep_order STREQUAL "first_seen")
  message(FATAL_ERROR "prep.json: id_order '${prep_order}', expected first_seen")
endif()
run_embcomp(train --cache "${OUT}/first_seen" --split rows:800,200 --method hash --ratio 2
            --dim 8 --batch 64 --epochs 1 --threads 2 --out "${OUT}/first_seen_run")
file(READ "${OUT}/first_seen_run/summary.json" summary)
string(JSON train_order GET "${summary}" data id_order)
if(NOT train_order STREQUAL "first_seen")
  message(FATAL_ERROR "summary.json: data id_order '${train_order}', expected first_seen")
endif()
