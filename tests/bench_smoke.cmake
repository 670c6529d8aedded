# Runs the bench binary briefly and checks its output formats: console, JSON, the criteria
# table, and that our flags and Google Benchmark's coexist. No timing is checked.
execute_process(COMMAND ${BENCH} --benchmark_filter=^parse/ --benchmark_min_time=0.01
                        --benchmark_format=json RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "bench micro run failed (${rc}): ${err}")
endif()
string(JSON n LENGTH "${out}" benchmarks)
if(n LESS 3)
  message(FATAL_ERROR "expected at least 3 parse benchmarks in JSON, got ${n}")
endif()
execute_process(COMMAND ${BENCH} --benchmark_filter=load/users:10/ --warmup_s=0.2 --duration_s=1 --drain_s=2
                        --no_progress --benchmark_format=json RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "bench load run failed (${rc}): ${err}\n${out}")
endif()
string(FIND "${out}" "\"delivery_pct\"" pos)
if(pos EQUAL -1)
  message(FATAL_ERROR "load run JSON lacks delivery_pct:\n${out}")
endif()
string(JSON n LENGTH "${out}" benchmarks)  # stdout stays valid JSON
string(FIND "${err}" "Seed success criteria" pos)
if(pos EQUAL -1)
  message(FATAL_ERROR "no criteria table (stderr with --benchmark_format=json):\n${err}")
endif()
execute_process(COMMAND ${BENCH} --no_such_flag RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
if(rc EQUAL 0)
  message(FATAL_ERROR "an unknown flag must fail")
endif()
