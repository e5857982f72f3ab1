// RFC 3986 reference resolution, enough for JSON Schema `$id` and `$ref`.
#pragma once

#include <string>
#include <string_view>

namespace troika::constrain {

// Resolves `ref` against `base` (RFC 3986 section 5.2, dot segments removed). Either may be
// empty or relative; the result keeps any fragment of `ref`.
std::string resolve_uri(std::string_view base, std::string_view ref);
// Splits "uri#fragment" into the part before '#' and the fragment (without '#').
std::pair<std::string, std::string> split_fragment(std::string_view uri);
// One JSON-pointer reference token: '~' -> "~0", '/' -> "~1" (RFC 6901).
std::string escape_pointer_token(std::string_view token);
// Decodes %XX escapes (used on JSON-pointer fragments).
std::string percent_decode(std::string_view s);

}  // namespace troika::constrain
