# Bad input on the command line: each case exits with its documented code (docs/bad_inputs.md)
# and a message that names the problem, and changes nothing it should not.
#   105 a value CLI11 rejects (range, choice, missing file)   106 no subcommand
#   109 an unknown flag   114 a flag without its value
#   2   an invalid method spec, option or infeasible ratio   1  a data or checkpoint error
file(REMOVE_RECURSE "${OUT}")
file(MAKE_DIRECTORY "${OUT}")
set(tiny --scale 0.0002 --train-rows 600 --val-rows 200 --test-rows 200 --dim 4 --epochs 1
         --evals-per-epoch 1 --threads 1)
set(cases 0)

# expect(<exit code> <regex of the message> <arguments...>)
function(expect code pattern)
  execute_process(COMMAND "${EMBCOMP}" ${ARGN}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL code)
    message(FATAL_ERROR "embcomp ${ARGN}: exit code ${rc}, expected ${code}\n${out}${err}")
  endif()
  if(NOT "${out}${err}" MATCHES "${pattern}")
    message(FATAL_ERROR "embcomp ${ARGN}: the message does not match '${pattern}'\n${out}${err}")
  endif()
  math(EXPR n "${cases} + 1")
  set(cases ${n} PARENT_SCOPE)
endfunction()

# Flags and values.
expect(105 "ratio nan" train ${tiny} --ratio nan)
expect(105 "ratio 0.5" train ${tiny} --ratio 0.5)
expect(105 "ratio inf" sweep --ratios 10,inf --methods hash)
expect(105 "deepfm" train ${tiny} --model deepfm)
expect(105 "rmsprop" train ${tiny} --optimizer rmsprop)
expect(105 "no/such/file.tsv" train --train no/such/file.tsv)
expect(109 "--bogus" train ${tiny} --bogus)
expect(114 "ratio" train ${tiny} --ratio)
expect(106 "subcommand" )
expect(105 "drift" train ${tiny} --drift -1)
expect(105 "id-order" train ${tiny} --id-order shuffled)
expect(105 "--jobs: Value -1 not in range 0 to 256" sweep --jobs -1 --methods hash)
expect(105 "--device: tpu not in" train ${tiny} --device tpu)
if(NOT CUDA)  # a build without the CUDA backend refuses it before reading any data
  expect(2 "this build has no CUDA backend" train ${tiny} --device cuda)
  expect(2 "this build has no CUDA backend" sweep ${tiny} --methods hash --ratios 4 --device cuda
         --out ${OUT}/device-sweep)
endif()
# Method specs.
expect(2 "unknown method 'nosuch'" train ${tiny} --method nosuch)
expect(2 "no option 'bogus'" train ${tiny} --method hash:bogus=1)
expect(2 "threshold=40 has no effect with tables=shared" train ${tiny} --method hash:threshold=40)
expect(2 "half_life=10 has no effect with threshold=auto" train ${tiny} --method cafe:half_life=10)
expect(2 "layout='magic' must be one of shared[|]reference" train ${tiny} --method cafe:layout=magic)
expect(2 "scale=0.02 has no effect with scale_mode=per_row" train ${tiny}
       --method int8:scale_mode=per_row,scale=0.02)
expect(2 "no option 'bogus'" sweep ${tiny} --methods hash:bogus=1 --ratios 10 --out ${OUT}/sweep)
expect(2 "highest ratio" train ${tiny} --method int8 --ratio 10)

# Text files: a malformed row under --strict; an empty file.
set(row "1\t2\t\t3\t\t\t\t\t\t\t\t\t\t1")
foreach(f RANGE 1 26)
  string(APPEND row "\tv${f}")
endforeach()
file(WRITE "${OUT}/bad.tsv" "${row}\n${row}\n1\t2\t3\n${row}\n")
expect(1 "malformed row at .*bad.tsv:3: wrong field count" prep --train ${OUT}/bad.tsv --strict
       --cache ${OUT}/bad.cache)
file(WRITE "${OUT}/empty.tsv" "")
expect(2 "0 rows|no rows|empty" train --train ${OUT}/empty.tsv --dim 4 --threads 1)

# A cache: prepared, then one byte of a column flipped: training refuses it.
file(WRITE "${OUT}/good.tsv" "")
foreach(i RANGE 1 60)
  file(APPEND "${OUT}/good.tsv" "${row}\n")
endforeach()
expect(0 "prep:" prep --train ${OUT}/good.tsv --cache ${OUT}/good.cache)
# Every label is 0.0f or 1.0f, whose first byte is 0: write 1 there (coreutils' dd).
execute_process(COMMAND sh -c "printf '\\001' | dd of='${OUT}/good.cache/labels.f32' bs=1 count=1 conv=notrunc status=none"
                RESULT_VARIABLE dd_rc)
if(NOT dd_rc EQUAL 0)
  message(FATAL_ERROR "could not damage the cache")
endif()
expect(1 "checksum" train --cache ${OUT}/good.cache --split rows:40,10 --dim 4 --threads 1)

# Resume with another method than the checkpoint's: refused, the checkpoint unchanged.
expect(0 "test" train ${tiny} --method hash --ratio 4 --checkpoint ${OUT}/run.ckpt)
file(SHA256 "${OUT}/run.ckpt" before)
expect(1 "cannot resume" train ${tiny} --method qr --ratio 4 --resume ${OUT}/run.ckpt
       --checkpoint ${OUT}/run.ckpt)
file(SHA256 "${OUT}/run.ckpt" after)
if(NOT before STREQUAL after)
  message(FATAL_ERROR "a refused resume changed the checkpoint")
endif()
# A table checkpoint is not a training checkpoint, and a text file is no checkpoint.
expect(1 "not an embcomp checkpoint|not a training checkpoint" info ${OUT}/good.tsv)
message("bad_inputs: ${cases} bad command lines, each refused with its exit code and message")
