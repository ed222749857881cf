# A ratio no method setting can reach exits with code 2 and the InfeasibleBudget message.
execute_process(
  COMMAND "${EMBCOMP}" train --scale 0.0002 --train-rows 1000 --val-rows 200 --test-rows 200
          --method hash --ratio 1e9
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 2)
  message(FATAL_ERROR "exit code ${rc}, expected 2\n${out}${err}")
endif()
if(NOT err MATCHES "hash")
  message(FATAL_ERROR "the error does not name the method:\n${err}")
endif()
message("${err}")
