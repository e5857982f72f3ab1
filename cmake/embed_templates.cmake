# Turns catalog/templates/*.jinja into a header of string constants (run at build time).
# Inputs: SRC_DIR, OUT.
set(pairs
  "kTemplateLlama31=llama-3.1.jinja"
  "kTemplateMistral03=mistral-v0.3.jinja"
  "kTemplateGemma2=gemma-2.jinja"
  "kTemplatePhi3=phi-3.jinja")
set(body "// Generated from catalog/templates by cmake/embed_templates.cmake; do not edit.\n#pragma once\n\nnamespace troika::engine {\n")
foreach(pair IN LISTS pairs)
  string(REPLACE "=" ";" kv "${pair}")
  list(GET kv 0 name)
  list(GET kv 1 file)
  file(READ "${SRC_DIR}/${file}" text)
  string(APPEND body "inline constexpr const char* ${name} = R\"TROIKA_TMPL(${text})TROIKA_TMPL\";\n")
endforeach()
string(APPEND body "}  // namespace troika::engine\n")
file(WRITE "${OUT}.tmp" "${body}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different "${OUT}.tmp" "${OUT}")
