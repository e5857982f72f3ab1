// What a compiled Schema holds: the node graph, plus caches the matcher fills lazily.
#pragma once

#include "schema_compile.h"
#include "troika/constrain.h"

namespace troika::constrain {

struct Schema::Impl {
  CompiledSchema compiled;
};

}  // namespace troika::constrain
