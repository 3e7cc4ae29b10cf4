# The corpus generator (parsediff-gen), the benchmark harness
# (parsediff-bench) and their tests. Included by bench/CMakeLists.txt.

add_library(pd_benchsupport STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/gen_text.c
  ${CMAKE_CURRENT_SOURCE_DIR}/gen_claude.c
  ${CMAKE_CURRENT_SOURCE_DIR}/gen_codex.c
  ${CMAKE_CURRENT_SOURCE_DIR}/gen_corpus.c
  ${CMAKE_CURRENT_SOURCE_DIR}/gen_drift.c
  ${CMAKE_CURRENT_SOURCE_DIR}/harness_proc.c
  ${CMAKE_CURRENT_SOURCE_DIR}/floor.c)
target_compile_options(pd_benchsupport PRIVATE ${PD_C_WARNINGS})
target_link_libraries(pd_benchsupport PUBLIC pd_common PkgConfig::SQLITE3 Threads::Threads m)

add_executable(parsediff-gen ${CMAKE_CURRENT_SOURCE_DIR}/gen_main.c)
target_compile_options(parsediff-gen PRIVATE ${PD_C_WARNINGS})
target_link_libraries(parsediff-gen PRIVATE pd_benchsupport)
set_target_properties(parsediff-gen PROPERTIES LINKER_LANGUAGE CXX)

add_executable(parsediff-bench ${CMAKE_CURRENT_SOURCE_DIR}/harness_main.c
                               ${CMAKE_CURRENT_SOURCE_DIR}/harness_report.c)
target_compile_options(parsediff-bench PRIVATE ${PD_C_WARNINGS})
target_link_libraries(parsediff-bench PRIVATE pd_benchsupport ${PD_ALL_LIBS})
set_target_properties(parsediff-bench PROPERTIES LINKER_LANGUAGE CXX)

# Tests of the generator, the floor and the measured child processes. They
# run under ctest like the tests in tests/, with the same environment.
enable_testing()
foreach(tname gen_test floor_test proc_test)
  add_executable(bench_${tname} ${CMAKE_CURRENT_SOURCE_DIR}/${tname}.c)
  target_compile_options(bench_${tname} PRIVATE ${PD_C_WARNINGS})
  target_link_libraries(bench_${tname} PRIVATE pd_benchsupport pd_testsupport ${PD_ALL_LIBS}
                        PkgConfig::CMOCKA)
  set_target_properties(bench_${tname} PROPERTIES LINKER_LANGUAGE CXX)
  add_test(NAME bench_${tname} COMMAND bench_${tname})
  set_tests_properties(bench_${tname} PROPERTIES TIMEOUT ${PD_TEST_TIMEOUT} LABELS unit
    ENVIRONMENT "PD_SOURCE_DIR=${CMAKE_SOURCE_DIR};PD_BINARY=$<TARGET_FILE:parsediff>;PD_BENCH_BINARY=$<TARGET_FILE:parsediff-bench>;PD_SHARED_DIR=${PD_SHARED_DIR}")
endforeach()
