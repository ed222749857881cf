# The PNG of the sweep that sweep_quoted_out.cmake (this test's fixture) ran into SWEEP_OUT's
# quoted directory. Where gnuplot is not installed the test prints the project's skip marker,
# which CTest reports as skipped (SKIP_REGULAR_EXPRESSION), never as passed.
find_program(gnuplot gnuplot)
if(NOT gnuplot)
  message("EMBCOMP_TEST_SKIPPED: gnuplot is not installed, so the sweep rendered no plot")
  return()
endif()
set(png "${SWEEP_OUT}/it's a dir/test_auc_dlrm.png")
if(NOT EXISTS "${png}")
  message(FATAL_ERROR "gnuplot is installed (${gnuplot}) but the sweep wrote no ${png}")
endif()
file(READ "${png}" signature LIMIT 8 HEX)
if(NOT signature STREQUAL "89504e470d0a1a0a")
  message(FATAL_ERROR "${png} is not a PNG (it starts with ${signature})")
endif()
