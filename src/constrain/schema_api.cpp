// Schema: the public face of the compiler and the validator.
#include "schema_impl.h"

namespace troika::constrain {

Schema::Schema(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Schema::~Schema() = default;

Result<std::shared_ptr<const Schema>> Schema::compile(std::string_view schema_json,
                                                      const SchemaOptions& options) {
  Json doc = Json::parse(schema_json.begin(), schema_json.end(), nullptr, false);
  if (doc.is_discarded()) {
    return invalid_argument("the schema is not valid JSON; check it with a JSON linter (" +
                            std::to_string(schema_json.size()) + " bytes read)");
  }
  auto compiled = compile_schema(doc, options);
  if (!compiled.ok()) return compiled.status();
  auto impl = std::make_unique<Impl>();
  impl->compiled = std::move(*compiled);
  return std::shared_ptr<const Schema>(new Schema(std::move(impl)));
}

Result<std::vector<ValidationError>> Schema::validate(std::string_view json_text) const {
  Json v = Json::parse(json_text.begin(), json_text.end(), nullptr, false);
  if (v.is_discarded()) return invalid_argument("the value to validate is not valid JSON");
  std::vector<ValidationError> errors;
  validate_value(impl_->compiled, 0, v, &errors);
  return errors;
}

}  // namespace troika::constrain
