// Byte sizes as people write them: "20GiB", "512MiB", "9.5GB", "4096".
//
// Contract: parse_bytes() accepts a non-negative decimal number with an optional unit
// (B, KB/MB/GB/TB = powers of 1000, KiB/MiB/GiB/TiB = powers of 1024; case-insensitive, spaces
// allowed between number and unit). format_bytes() prints binary units with two decimals
// ("5.76 GiB"). Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "troika/status.h"

namespace troika {

// Errors: invalid_argument naming the text and the accepted forms.
Result<uint64_t> parse_bytes(std::string_view text);
std::string format_bytes(uint64_t bytes);
// Signed difference, "+1.20 GiB" / "-300.00 MiB".
std::string format_bytes_signed(int64_t bytes);

}  // namespace troika
