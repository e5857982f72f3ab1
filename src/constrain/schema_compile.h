// Internal entry points of the schema compiler and the validator.
#pragma once

#include <string>
#include <vector>

#include "schema_ir.h"
#include "troika/constrain.h"

namespace troika::constrain {

// Compiles a parsed schema document. Errors: invalid_argument (malformed schema),
// unimplemented (a keyword or reference the engine cannot enforce).
Result<CompiledSchema> compile_schema(const Json& doc, const SchemaOptions& options);

// Validates `value` against node `id`; appends what failed to `errors` when it is not null
// (stopping at the first failure when it is null). Returns true when valid.
bool validate_value(const CompiledSchema& schema, int32_t id, const Json& value,
                    std::vector<ValidationError>* errors, const std::string& instance_path = "");

// Canonical compact text of a value: integral numbers without a fraction, strings escaped as
// nlohmann::json dumps them. The constraint engine writes (and constrain-bench reads) this form.
std::string canonical_dump(const Json& value);

// Code points in a UTF-8 string.
int64_t utf8_length(std::string_view s);

}  // namespace troika::constrain
