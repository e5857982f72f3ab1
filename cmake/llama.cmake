# llama.cpp at the pinned commit, as a static subproject. Only the targets we link (ggml, llama,
# llama-common, and llama-server for the tests) are built: EXCLUDE_FROM_ALL keeps its tools,
# examples and tests out of our build.
set(TROIKA_LLAMA_DIR ${PROJECT_SOURCE_DIR}/third_party/llama.cpp)
if(NOT EXISTS ${TROIKA_LLAMA_DIR}/include/llama.h)
  message(FATAL_ERROR "llama.cpp source not found at ${TROIKA_LLAMA_DIR}; run scripts/setup first")
endif()

set(BUILD_SHARED_LIBS OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_COMMON ON CACHE BOOL "" FORCE)
set(LLAMA_BUILD_TESTS OFF CACHE BOOL "" FORCE)
# The tools are configured (never built by default) so that the tests can build llama-server
# from this same tree as the OpenAI-compatible peer of remote roles. No prebuilt web UI is
# fetched: the build stays offline.
set(LLAMA_BUILD_TOOLS ${TROIKA_BUILD_TESTS} CACHE BOOL "" FORCE)
set(LLAMA_BUILD_EXAMPLES OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_SERVER ${TROIKA_BUILD_TESTS} CACHE BOOL "" FORCE)
set(LLAMA_BUILD_UI OFF CACHE BOOL "" FORCE)
set(LLAMA_USE_PREBUILT_UI OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_APP OFF CACHE BOOL "" FORCE)
set(LLAMA_OPENSSL OFF CACHE BOOL "" FORCE)
set(LLAMA_ALL_WARNINGS OFF CACHE BOOL "" FORCE)
set(GGML_CUDA ${TROIKA_CUDA} CACHE BOOL "" FORCE)
if(TROIKA_CUDA AND NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  # A100 (sm_80) is the target card; H200 (sm_90) is where lent devices measure.
  set(CMAKE_CUDA_ARCHITECTURES "80;90" CACHE STRING "" FORCE)
endif()

add_subdirectory(${TROIKA_LLAMA_DIR} ${CMAKE_BINARY_DIR}/llama.cpp EXCLUDE_FROM_ALL SYSTEM)
