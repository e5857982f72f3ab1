// The zip container as torch.save writes it (stored entries, ZIP64 for files past 4 GiB): the
// central directory read into a list of entries. Only what the torch reader needs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "troika/status.h"

namespace troika::convert {

// One entry of a zip archive, from its central-directory record and local header.
struct ZipEntry {
  std::string name;              // full path inside the archive, e.g. "model/data/0"
  uint16_t method = 0;           // 0 = stored; anything else is compressed
  uint16_t flags = 0;            // general-purpose bit flags (bit 0: encrypted)
  uint32_t crc32 = 0;            // of the uncompressed bytes
  uint64_t data_offset = 0;      // where the entry's bytes begin in the file
  uint64_t compressed_size = 0;  // bytes at data_offset
  uint64_t size = 0;             // uncompressed bytes
};

struct ZipEntries {
  std::vector<ZipEntry> entries;  // in central-directory order
  bool zip64 = false;             // the archive has a ZIP64 end-of-central-directory record

  // The entry named exactly `name`, or nullptr.
  const ZipEntry* find(std::string_view name) const;
};

// Parses a zip archive held in memory (`data`, `size` bytes; `name` is used in messages).
// Every entry's data range is checked to lie inside the file. Errors: data_loss naming the file
// and what is wrong (no end-of-central-directory record, truncated or corrupt records, a local
// header that disagrees with the central directory, ranges outside the file); unimplemented for
// multi-disk archives.
Result<ZipEntries> list_zip(const uint8_t* data, size_t size, const std::string& name);

// zip's CRC-32, and little-endian loads, for the readers of entries.
uint32_t zip_crc32(const uint8_t* p, size_t n);
uint32_t zip_le32(const uint8_t* p);
uint16_t zip_le16(const uint8_t* p);

}  // namespace troika::convert
