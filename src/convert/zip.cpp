#include "convert/zip.h"

#include <cstring>
#include <unordered_map>

namespace troika::convert {

namespace {

uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
uint32_t le32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}
uint64_t le64(const uint8_t* p) { return uint64_t{le32(p)} | uint64_t{le32(p + 4)} << 32; }

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEocdSig = 0x06054b50;
constexpr uint32_t kZip64EocdSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr size_t kLocalSize = 30;
constexpr size_t kCentralSize = 46;
constexpr size_t kEocdSize = 22;
constexpr size_t kZip64EocdSize = 56;
constexpr size_t kZip64LocatorSize = 20;

Status zip_bad(const std::string& name, const std::string& what) {
  return data_loss(name + ": not a valid zip archive: " + what);
}

// Bitwise CRC-32 (zip's polynomial); it only ever checks data.pkl, some kilobytes.
uint32_t crc32_of(const uint8_t* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
  }
  return ~c;
}

// Applies a ZIP64 extended-information extra field (id 1) to an entry: it holds, in this order,
// only those of size, compressed size and local-header offset whose 32-bit slot is 0xFFFFFFFF.
bool apply_zip64_extra(const uint8_t* p, size_t n, ZipEntry* e, uint64_t* local) {
  while (n >= 4) {
    const uint16_t id = le16(p);
    const size_t len = le16(p + 2);
    if (len > n - 4) return false;
    if (id == 1) {
      const uint8_t* q = p + 4;
      size_t left = len;
      for (uint64_t* v : {&e->size, &e->compressed_size, local}) {
        if (*v != 0xFFFFFFFFu) continue;
        if (left < 8) return false;
        *v = le64(q);
        q += 8;
        left -= 8;
      }
    }
    p += 4 + len;
    n -= 4 + len;
  }
  return true;
}

}  // namespace

const ZipEntry* ZipEntries::find(std::string_view name) const {
  for (const auto& e : entries) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

Result<ZipEntries> list_zip(const uint8_t* data, size_t size, const std::string& name) {
  if (size < kEocdSize) {
    return zip_bad(name, "only " + std::to_string(size) + " bytes (truncated?)");
  }
  // The end-of-central-directory record closes the file, followed only by a comment of at most
  // 65535 bytes whose length it states; requiring that length to reach the end exactly keeps a
  // stray signature inside the comment from being taken for the record.
  size_t eocd = SIZE_MAX;
  const size_t lowest = size - kEocdSize > 0xFFFF ? size - kEocdSize - 0xFFFF : 0;
  for (size_t pos = size - kEocdSize + 1; pos-- > lowest;) {
    if (le32(data + pos) == kEocdSig && pos + kEocdSize + le16(data + pos + 20) == size) {
      eocd = pos;
      break;
    }
  }
  if (eocd == SIZE_MAX) {
    return zip_bad(name, "no end-of-central-directory record at the end of the file (truncated?)");
  }
  const uint8_t* e = data + eocd;
  if (le16(e + 4) != 0 || le16(e + 6) != 0) {
    return unimplemented(name + ": multi-disk zip archives are not supported");
  }
  ZipEntries out;
  uint64_t n_entries = le16(e + 10);
  uint64_t cd_size = le32(e + 12);
  uint64_t cd_offset = le32(e + 16);
  uint64_t cd_limit = eocd;  // the central directory must end before the records that follow it
  // torch's writer always adds ZIP64 records; files over 4 GiB need them, since the 32-bit
  // fields above then hold 0xFFFFFFFF.
  if (eocd >= kZip64LocatorSize && le32(e - kZip64LocatorSize) == kZip64LocatorSig) {
    const uint64_t z = le64(e - kZip64LocatorSize + 8);
    const uint64_t locator = eocd - kZip64LocatorSize;
    if (z > locator || locator - z < kZip64EocdSize) {
      return zip_bad(name, "the ZIP64 locator points outside the file");
    }
    const uint8_t* z64 = data + z;
    if (le32(z64) != kZip64EocdSig)
      return zip_bad(name, "no ZIP64 end record where its locator points");
    n_entries = le64(z64 + 32);
    cd_size = le64(z64 + 40);
    cd_offset = le64(z64 + 48);
    cd_limit = z;
    out.zip64 = true;
  }
  if (cd_offset > cd_limit || cd_size > cd_limit - cd_offset) {
    return zip_bad(name, "the central directory (" + std::to_string(cd_size) + " bytes at offset " +
                             std::to_string(cd_offset) + ") lies outside the file (truncated?)");
  }
  if (n_entries > cd_size / kCentralSize) {
    return zip_bad(name, std::to_string(n_entries) + " entries cannot fit in a " +
                             std::to_string(cd_size) + "-byte central directory");
  }
  const uint64_t cd_end = cd_offset + cd_size;
  uint64_t pos = cd_offset;
  out.entries.reserve(n_entries);
  for (uint64_t i = 0; i < n_entries; ++i) {
    const std::string which = "central directory entry " + std::to_string(i);
    if (cd_end - pos < kCentralSize || le32(data + pos) != kCentralSig) {
      return zip_bad(name, which + " at offset " + std::to_string(pos) + " is corrupt");
    }
    const uint8_t* c = data + pos;
    ZipEntry ent;
    ent.flags = le16(c + 8);
    ent.method = le16(c + 10);
    ent.crc32 = le32(c + 16);
    ent.compressed_size = le32(c + 20);
    ent.size = le32(c + 24);
    const size_t n_name = le16(c + 28), n_extra = le16(c + 30), n_comment = le16(c + 32);
    uint64_t local = le32(c + 42);
    if (cd_end - pos - kCentralSize < n_name + n_extra + n_comment) {
      return zip_bad(name, which + " runs past the end of the central directory");
    }
    ent.name.assign(reinterpret_cast<const char*>(c + kCentralSize), n_name);
    if (!apply_zip64_extra(c + kCentralSize + n_name, n_extra, &ent, &local)) {
      return zip_bad(name, "malformed extra fields in entry '" + ent.name + "'");
    }
    // Sizes come from the central directory: torch's writer (miniz) leaves them 0 in the local
    // header and writes a data descriptor after the data instead.
    if (local > size || size - local < kLocalSize || le32(data + local) != kLocalSig) {
      return zip_bad(name, "entry '" + ent.name + "' has no local header at offset " +
                               std::to_string(local) + " (truncated or corrupt?)");
    }
    const uint8_t* l = data + local;
    const size_t n_lname = le16(l + 26), n_lextra = le16(l + 28);
    if (size - local - kLocalSize < n_lname + n_lextra) {
      return zip_bad(name, "the local header of '" + ent.name + "' runs past the end of the file");
    }
    if (n_lname != n_name || std::memcmp(l + kLocalSize, c + kCentralSize, n_name) != 0) {
      return zip_bad(name, "the local header of '" + ent.name + "' names another file");
    }
    ent.data_offset = local + kLocalSize + n_lname + n_lextra;
    if (ent.compressed_size > size - ent.data_offset) {
      return zip_bad(name, "entry '" + ent.name + "' needs " + std::to_string(ent.compressed_size) +
                               " bytes at offset " + std::to_string(ent.data_offset) +
                               " but the file has " + std::to_string(size) + " (truncated?)");
    }
    pos += kCentralSize + n_name + n_extra + n_comment;
    out.entries.push_back(std::move(ent));
  }
  return out;
}

uint32_t zip_crc32(const uint8_t* p, size_t n) { return crc32_of(p, n); }
uint32_t zip_le32(const uint8_t* p) { return le32(p); }
uint16_t zip_le16(const uint8_t* p) { return le16(p); }

}  // namespace troika::convert
