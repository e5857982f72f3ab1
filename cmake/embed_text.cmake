# Turns one text file into a header holding it as a string constant (run at build time).
# Inputs: SRC (the file), OUT (the header), NAME (the constant), NAMESPACE.
file(READ "${SRC}" text)
set(body "// Generated from ${SRC} by cmake/embed_text.cmake; do not edit.\n#pragma once\n\n")
string(APPEND body "namespace ${NAMESPACE} {\n")
string(APPEND body "inline constexpr const char* ${NAME} = R\"TROIKA_TEXT(${text})TROIKA_TEXT\";\n")
string(APPEND body "}  // namespace ${NAMESPACE}\n")
file(WRITE "${OUT}.tmp" "${body}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different "${OUT}.tmp" "${OUT}")
