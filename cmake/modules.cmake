# loom_add_module(NAME [TORCH] [DEPS module...] SOURCES file... [NO_TORCH_SOURCES file...])
#
# One static library loom_NAME (alias loom::NAME) per module, with
# include/loom/NAME/ as its public headers. DEPS are other loom modules,
# linked publicly; cmake/layers.txt says which are allowed, and the
# `layering` test checks both the includes and the link edges targets end
# up with. TORCH
# modules reuse the torch precompiled header of loom_tensor, except in
# their torch-free units (NO_TORCH_SOURCES), which compile without it.
set(LOOM_MODULE_TARGETS "" CACHE INTERNAL "")

function(loom_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra)
endfunction()

function(loom_add_module name)
  cmake_parse_arguments(ARG "TORCH" "" "SOURCES;DEPS;NO_TORCH_SOURCES" ${ARGN})
  set(target loom_${name})
  add_library(${target} STATIC ${ARG_SOURCES} ${ARG_NO_TORCH_SOURCES})
  if(ARG_NO_TORCH_SOURCES)
    set_source_files_properties(${ARG_NO_TORCH_SOURCES} PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
  endif()
  add_library(loom::${name} ALIAS ${target})
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  foreach(dep ${ARG_DEPS})
    target_link_libraries(${target} PUBLIC loom_${dep})
  endforeach()
  loom_warnings(${target})
  if(ARG_TORCH AND NOT name STREQUAL "tensor")
    target_precompile_headers(${target} REUSE_FROM loom_tensor)
  endif()
  set(LOOM_MODULE_TARGETS "${LOOM_MODULE_TARGETS};${target}" CACHE INTERNAL "")
endfunction()

# Executables reuse loom_tensor's torch PCH. GCC refuses a PCH built with
# -fPIC in a -fPIE compile, so they compile with -fPIC too.
function(loom_use_torch_pch target)
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE OFF)
  target_compile_options(${target} PRIVATE -fPIC)
  target_precompile_headers(${target} REUSE_FROM loom_tensor)
endfunction()
