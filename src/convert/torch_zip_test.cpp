#include "convert/torch_zip.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "torch_writer.h"

namespace troika::convert {
namespace {

using troika::testing::torch_pickle;
using troika::testing::TorchTensorData;
using troika::testing::write_torch_checkpoint;
using troika::testing::write_torch_zip;

std::string temp_dir() { return ::testing::TempDir() + "troika_torch_" + std::to_string(getpid()); }

// A path in this process's own temporary folder; the file name picks torch's archive folder.
std::string temp_path(const std::string& file) {
  mkdir(temp_dir().c_str(), 0700);
  return temp_dir() + "/" + file;
}

// Removes the (by then empty) folder once all tests have run; each test deletes its files.
class RemoveTempDir : public ::testing::Environment {
 public:
  void TearDown() override { rmdir(temp_dir().c_str()); }
};
[[maybe_unused]] auto* const kRemoveTempDir =
    ::testing::AddGlobalTestEnvironment(new RemoveTempDir);

TorchTensorData tensor(const std::string& name, DType dtype, std::vector<int64_t> shape,
                       std::vector<uint8_t> bytes) {
  TorchTensorData t;
  t.name = name;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.bytes = std::move(bytes);
  return t;
}

std::vector<uint8_t> f32_bytes(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

std::vector<float> as_f32(const RawTensor& t) {
  std::vector<float> v(t.n_bytes / 4);
  std::memcpy(v.data(), t.data, t.n_bytes);
  return v;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A pickle BINUNICODE string.
std::string bin_str(const std::string& s) {
  const uint32_t n = s.size();
  std::string out = "X";  // appended piecewise: gcc 12's -Wrestrict misfires on "lit" + string
  out.append(reinterpret_cast<const char*>(&n), 4);
  out.append(s);
  return out;
}

// The tensors point into `bytes`, so it must outlive them (hence no temporaries).
Result<std::vector<RawTensor>> parse(const std::string& bytes, const std::string& dict_key = "") {
  return parse_torch_checkpoint(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                                "bad.ckpt", dict_key);
}
Result<std::vector<RawTensor>> parse(std::string&& bytes,
                                     const std::string& dict_key = "") = delete;

// A small gemma_pytorch-like checkpoint: {'model_state_dict': {...}} with F32 and BF16 tensors.
std::vector<TorchTensorData> sample_tensors() {
  std::vector<TorchTensorData> t(2);
  t[0] = tensor("model.layers.0.self_attn.qkv_proj.weight", DType::kF32, {2, 3},
                f32_bytes({1, 2, 3, 4, 5, 6}));
  t[1] = tensor("embedder.weight", DType::kBF16, {4},
                {0x80, 0x3f, 0x00, 0x40, 0x40, 0x40, 0x80, 0x40});
  return t;
}

TEST(TorchZip, RoundTripsF32AndBF16UnderModelStateDict) {
  const std::string path = temp_path("model.ckpt");
  ASSERT_TRUE(write_torch_checkpoint(path, sample_tensors(), "model_state_dict").ok());
  auto file = MappedFile::open(path);
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  auto tensors = read_torch_checkpoint(*file, "model_state_dict");
  ASSERT_TRUE(tensors.ok()) << tensors.status().to_string();
  ASSERT_EQ(tensors->size(), 2u);
  const RawTensor& qkv = (*tensors)[0];
  EXPECT_EQ(qkv.name, "model.layers.0.self_attn.qkv_proj.weight");
  EXPECT_EQ(qkv.dtype, DType::kF32);
  EXPECT_EQ(qkv.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(as_f32(qkv), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(qkv.file, path);
  EXPECT_EQ((qkv.data - (*file)->data()) % 64, 0) << "torch aligns storages to 64 bytes";
  const RawTensor& emb = (*tensors)[1];
  EXPECT_EQ(emb.dtype, DType::kBF16);
  EXPECT_EQ(emb.shape, (std::vector<int64_t>{4}));
  ASSERT_EQ(emb.n_bytes, 8u);
  EXPECT_EQ(std::vector<uint8_t>(emb.data, emb.data + 8), sample_tensors()[1].bytes);
  // With no key, the only nested dict of tensors is found.
  auto found = read_torch_checkpoint(*file, "");
  ASSERT_TRUE(found.ok()) << found.status().to_string();
  EXPECT_EQ(found->size(), 2u);
  auto missing = read_torch_checkpoint(*file, "optimizer");
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(missing.status().message().find("model_state_dict"), std::string::npos)
      << missing.status().message();
  unlink(path.c_str());
}

TEST(TorchZip, ReadsATopLevelStateDict) {
  const std::string path = temp_path("pytorch_model.bin");
  ASSERT_TRUE(write_torch_checkpoint(path, sample_tensors(), "").ok());
  auto zip_bytes = read_all(path);
  auto entries =
      list_zip(reinterpret_cast<const uint8_t*>(zip_bytes.data()), zip_bytes.size(), path);
  ASSERT_TRUE(entries.ok()) << entries.status().to_string();
  EXPECT_TRUE(entries->zip64) << "torch's writer always adds ZIP64 end records";
  ASSERT_NE(entries->find("pytorch_model/data.pkl"), nullptr);
  ASSERT_NE(entries->find("pytorch_model/data/1"), nullptr);
  EXPECT_EQ(entries->find("pytorch_model/data/1")->data_offset % 64, 0u);
  auto tensors = parse(zip_bytes);
  ASSERT_TRUE(tensors.ok()) << tensors.status().to_string();
  ASSERT_EQ(tensors->size(), 2u);
  EXPECT_EQ((*tensors)[1].name, "embedder.weight");
  unlink(path.c_str());
}

TEST(TorchZip, ViewsShareTheirStorageAtTheirOffsets) {
  std::vector<TorchTensorData> t(3);
  t[0] = tensor("buffer", DType::kF32, {8}, f32_bytes({0, 1, 2, 3, 4, 5, 6, 7}));
  t[1] = tensor("middle", DType::kF32, {2, 2}, {});
  t[1].view_of = 0;
  t[1].storage_offset = 2;
  t[2] = tensor("tail", DType::kF32, {3}, {});
  t[2].view_of = 0;
  t[2].storage_offset = 5;
  const std::string path = temp_path("views.pt");
  ASSERT_TRUE(write_torch_checkpoint(path, t, "").ok());
  const std::string bytes = read_all(path);
  auto tensors = parse(bytes);
  ASSERT_TRUE(tensors.ok()) << tensors.status().to_string();
  ASSERT_EQ(tensors->size(), 3u);
  EXPECT_EQ(as_f32((*tensors)[1]), (std::vector<float>{2, 3, 4, 5}));
  EXPECT_EQ(as_f32((*tensors)[2]), (std::vector<float>{5, 6, 7}));
  EXPECT_EQ((*tensors)[2].data, (*tensors)[0].data + 5 * 4);
  unlink(path.c_str());
}

TEST(TorchZip, ManyTensorsUseLongMemoSlotsAndBatches) {
  // Over 256 memo slots (LONG_BINPUT/LONG_BINGET) and over 1000 items (several SETITEMS).
  std::vector<TorchTensorData> t;
  for (int i = 0; i < 1001; ++i) {
    std::string name = "w";  // appended: gcc 12's -Wrestrict misfires on "lit" + string
    name.append(std::to_string(i));
    t.push_back(tensor(name, DType::kF32, {1}, f32_bytes({float(i)})));
  }
  const std::string path = temp_path("many.ckpt");
  ASSERT_TRUE(write_torch_checkpoint(path, t, "model_state_dict").ok());
  const std::string bytes = read_all(path);
  auto tensors = parse(bytes, "model_state_dict");
  ASSERT_TRUE(tensors.ok()) << tensors.status().to_string();
  ASSERT_EQ(tensors->size(), 1001u);
  EXPECT_EQ((*tensors)[1000].name, "w1000");
  EXPECT_EQ(as_f32((*tensors)[1000]), std::vector<float>{1000});
  unlink(path.c_str());
}

TEST(TorchZip, NonContiguousTensorIsUnimplemented) {
  std::vector<TorchTensorData> t(1);
  t[0] = tensor("transposed", DType::kF32, {2, 3}, f32_bytes({1, 2, 3, 4, 5, 6}));
  t[0].stride = {1, 2};
  const std::string path = temp_path("strided.ckpt");
  ASSERT_TRUE(write_torch_checkpoint(path, t, "").ok());
  const std::string bytes = read_all(path);
  auto tensors = parse(bytes);
  EXPECT_EQ(tensors.status().code(), Code::kUnimplemented);
  EXPECT_NE(tensors.status().message().find("'transposed'"), std::string::npos)
      << tensors.status().message();
  // Dimensions of size 1 may carry any stride and still be contiguous, as in torch.
  t[0].shape = {3, 1, 2};
  t[0].stride = {2, 99, 1};
  ASSERT_TRUE(write_torch_checkpoint(path, t, "").ok());
  const std::string bytes_ok = read_all(path);
  EXPECT_TRUE(parse(bytes_ok).ok());
  unlink(path.c_str());
}

TEST(TorchZip, ComplexTensorsGainATrailingPair) {
  // gemma_pytorch keeps freqs_cis, a complex64 buffer, in its state dict.
  std::vector<TorchTensorData> t(1);
  t[0] = tensor("freqs_cis", DType::kF32, {2, 3}, f32_bytes({0, 0, 0, 0, 0, 0}));
  std::string pkl = torch_pickle(t, "");
  const size_t at = pkl.find("FloatStorage");
  ASSERT_NE(at, std::string::npos);
  pkl.replace(at, 0, "Complex");  // GLOBAL names end at a newline, so the pickle stays valid
  std::vector<uint8_t> data = f32_bytes({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  const std::string path = temp_path("complex.ckpt");
  ASSERT_TRUE(write_torch_zip(path, {{"data.pkl", pkl},
                                     {"byteorder", "little"},
                                     {"data/0", std::string(data.begin(), data.end())},
                                     {"version", "3\n"}})
                  .ok());
  const std::string bytes = read_all(path);
  auto tensors = parse(bytes);
  ASSERT_TRUE(tensors.ok()) << tensors.status().to_string();
  EXPECT_EQ((*tensors)[0].shape, (std::vector<int64_t>{2, 3, 2}));
  EXPECT_EQ(as_f32((*tensors)[0])[11], 12);
  unlink(path.c_str());
}

TEST(TorchZip, PlainValuesBesideTheStateDictAreSkipped) {
  // {'step': 5, 'lr': 0.5, 'notes': ['a', None, True, -7, 2**40], 'model_state_dict': {...}}:
  // the state dict's pickle is spliced in after its header (PROTO, EMPTY_DICT, key), whose
  // memo slots 0 and 1 the body never reads.
  const std::string body = torch_pickle(sample_tensors(), "model_state_dict");
  const std::string header_end = std::string("model_state_dict") + "q\x01";
  const size_t cut = body.find(header_end) + header_end.size();
  std::string pkl = std::string("\x80\x02}(", 4) + bin_str("step") + "K\x05" + bin_str("lr") +
                    std::string("G?\xe0\0\0\0\0\0\0", 9) + bin_str("notes") + "](" + bin_str("a") +
                    "N\x88" + std::string("J\xf9\xff\xff\xff", 5) +
                    std::string("\x8a\x06\0\0\0\0\0\x01", 8) + "e" + bin_str("model_state_dict");
  pkl += body.substr(cut, body.size() - cut - 2) + "u.";  // drop SETITEM, STOP; close the MARK
  const std::string path = temp_path("mixed.ckpt");
  const auto& sample = sample_tensors();
  ASSERT_TRUE(write_torch_zip(
                  path, {{"data.pkl", pkl},
                         {"data/0", std::string(sample[0].bytes.begin(), sample[0].bytes.end())},
                         {"data/1", std::string(sample[1].bytes.begin(), sample[1].bytes.end())}})
                  .ok());
  const std::string bytes = read_all(path);
  auto tensors = parse(bytes);
  ASSERT_TRUE(tensors.ok()) << tensors.status().to_string();
  ASSERT_EQ(tensors->size(), 2u);
  EXPECT_EQ(as_f32((*tensors)[0])[5], 6);
  unlink(path.c_str());
}

TEST(TorchZip, TruncatedFilesAreDataLossNamingTheFile) {
  const std::string path = temp_path("trunc.ckpt");
  ASSERT_TRUE(write_torch_checkpoint(path, sample_tensors(), "model_state_dict").ok());
  const std::string whole = read_all(path);
  for (size_t keep :
       {size_t{4}, size_t{100}, whole.size() / 2, whole.size() - 30, whole.size() - 1}) {
    const std::string cut = whole.substr(0, keep);
    auto r = parse(cut, "model_state_dict");
    EXPECT_EQ(r.status().code(), Code::kDataLoss) << keep << ": " << r.status().to_string();
    EXPECT_NE(r.status().message().find("bad.ckpt"), std::string::npos) << r.status().message();
  }
  const std::string empty;
  EXPECT_EQ(parse(empty).status().code(), Code::kDataLoss);
  unlink(path.c_str());
}

// Offset of the central-directory record naming `name`.
size_t central_record(const std::string& zip, const std::string& name) {
  for (size_t at = zip.find("PK\x01\x02"); at != std::string::npos;
       at = zip.find("PK\x01\x02", at + 1)) {
    if (zip.compare(at + 46, name.size(), name) == 0) return at;
  }
  return std::string::npos;
}

TEST(TorchZip, CorruptArchivesAreDataLoss) {
  const std::string path = temp_path("corrupt.ckpt");
  ASSERT_TRUE(write_torch_checkpoint(path, sample_tensors(), "model_state_dict").ok());
  const std::string whole = read_all(path);
  const size_t cd = central_record(whole, "corrupt/data/0");
  ASSERT_NE(cd, std::string::npos);
  std::string bad_sig = whole;
  bad_sig[cd + 1] = 'X';  // a central-directory signature
  std::string bad_offset = whole;
  bad_offset[cd + 44] ^= 0x10;  // the entry's local-header offset
  std::string bad_cd_pos = whole;
  bad_cd_pos[whole.size() - 22 - 20 - 56 + 48 + 3] = 0x40;  // the ZIP64 record's directory offset
  std::string bad_pickle = whole;
  bad_pickle[64 + 10] ^= 0xFF;  // data.pkl's bytes begin at 64; its CRC catches this
  for (const std::string* z : {&bad_sig, &bad_offset, &bad_cd_pos, &bad_pickle}) {
    auto r = parse(*z, "model_state_dict");
    EXPECT_EQ(r.status().code(), Code::kDataLoss) << r.status().to_string();
    EXPECT_NE(r.status().message().find("bad.ckpt"), std::string::npos) << r.status().message();
  }
  unlink(path.c_str());
}

TEST(TorchZip, AnyChangedByteGivesTensorsOrAnError) {
  // The parser must never read outside the file, whatever the bytes; sanitizer builds check it.
  const std::string path = temp_path("flip.ckpt");
  ASSERT_TRUE(write_torch_checkpoint(path, sample_tensors(), "model_state_dict").ok());
  const std::string whole = read_all(path);
  unlink(path.c_str());
  size_t n_ok = 0;
  for (size_t pos = 0; pos < whole.size(); ++pos) {
    for (uint8_t flip : {0x01, 0x80, 0xFF}) {
      std::vector<uint8_t> bytes(whole.begin(), whole.end());  // sized exactly, for ASan
      bytes[pos] ^= flip;
      auto r = parse_torch_checkpoint(bytes.data(), bytes.size(), "flip.ckpt", "model_state_dict");
      if (!r.ok()) continue;
      ++n_ok;
      for (const RawTensor& t : *r) {
        ASSERT_GE(t.data, bytes.data());
        ASSERT_LE(t.data + t.n_bytes, bytes.data() + bytes.size());
      }
    }
  }
  EXPECT_GT(n_ok, 0u);  // changes to tensor bytes and padding are not detected, by design
}

TEST(TorchZip, CompressedEntriesAndBigEndianFilesAreUnimplemented) {
  const std::string path = temp_path("packed.ckpt");
  ASSERT_TRUE(write_torch_checkpoint(path, sample_tensors(), "").ok());
  std::string deflated = read_all(path);
  deflated[central_record(deflated, "packed/data/1") + 10] = 8;  // method: deflate
  auto r = parse(deflated);
  EXPECT_EQ(r.status().code(), Code::kUnimplemented);
  EXPECT_NE(r.status().message().find("compressed"), std::string::npos) << r.status().message();
  ASSERT_TRUE(
      write_torch_zip(path, {{"data.pkl", torch_pickle({}, "")}, {"byteorder", "big"}}).ok());
  const std::string bytes = read_all(path);
  EXPECT_EQ(parse(bytes).status().code(), Code::kUnimplemented);
  // The pre-1.6 format: a bare pickle starting with PROTO 2 and torch's magic number.
  const std::string legacy("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15);
  EXPECT_EQ(parse(legacy).status().code(), Code::kUnimplemented);
  unlink(path.c_str());
}

// What reading a checkpoint whose data.pkl is `pkl` reports.
Status pickle_status(const std::string& pkl) {
  const std::string path = temp_path("evil.ckpt");
  Status s = write_torch_zip(path, {{"data.pkl", pkl}, {"version", "3\n"}});
  if (!s.ok()) return s;
  const std::string bytes = read_all(path);
  unlink(path.c_str());
  return parse(bytes).status();
}

TEST(TorchZip, DisallowedGlobalsAndOpcodesAreRefusedByName) {
  // os.system('ls'): GLOBAL, a 1-tuple of the command, REDUCE.
  const std::string proto2("\x80\x02", 2);
  Status r = pickle_status(proto2 + "cos\nsystem\n" + bin_str("ls") + "\x85R.");
  EXPECT_EQ(r.code(), Code::kUnimplemented);
  EXPECT_NE(r.message().find("os.system"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("data.pkl"), std::string::npos) << r.message();
  // builtins.eval through protocol 0's INST opcode.
  r = pickle_status("(ibuiltins\neval\n.");
  EXPECT_EQ(r.code(), Code::kUnimplemented);
  EXPECT_NE(r.message().find("'i'"), std::string::npos) << r.message();
  // A pickle cut short before STOP is corrupt, not unsupported.
  r = pickle_status(proto2 + std::string("}q\0X\x05\0\0\0", 8));
  EXPECT_EQ(r.code(), Code::kDataLoss) << r.to_string();
  // A non-storage persistent id.
  r = pickle_status(proto2 + bin_str("abc") + "Q.");
  EXPECT_EQ(r.code(), Code::kUnimplemented) << r.to_string();
}

TEST(TorchZip, DeeplyNestedPicklesAreReleasedWithoutRecursion) {
  // EMPTY_LIST 200000 times, then APPEND: lists nested that deep, which a recursive
  // release would overflow the stack on. It is a list, not a dict of tensors: unimplemented.
  Status r = pickle_status(std::string("\x80\x02", 2) + std::string(200000, ']') +
                           std::string(199999, 'a') + ".");
  EXPECT_EQ(r.code(), Code::kUnimplemented) << r.to_string();
}

TEST(TorchZip, Zip64OffsetsPastFourGiB) {
  // A 4 GiB storage, left as a hole in a sparse file, pushes the next entry past 4 GiB: its
  // size and offset then live in ZIP64 extra fields, as in a real 18 GB gemma checkpoint.
  std::vector<TorchTensorData> t(3);
  t[0] = tensor("head", DType::kF32, {2}, f32_bytes({1, 2}));
  t[1] = tensor("huge", DType::kBF16, {(int64_t{1} << 31) + 64}, {});
  t[1].zero_bytes = ((uint64_t{1} << 31) + 64) * 2;
  t[2] = tensor("tail", DType::kF32, {3}, f32_bytes({7, 8, 9}));
  const std::string path = temp_path("huge.ckpt");
  ASSERT_TRUE(write_torch_checkpoint(path, t, "model_state_dict").ok());
  auto file = MappedFile::open(path);
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  auto entries = list_zip((*file)->data(), (*file)->size(), path);
  ASSERT_TRUE(entries.ok()) << entries.status().to_string();
  const ZipEntry* tail = entries->find("huge/data/2");
  ASSERT_NE(tail, nullptr);
  EXPECT_GT(tail->data_offset, uint64_t{0xFFFFFFFF});
  EXPECT_EQ(entries->find("huge/data/1")->size, t[1].zero_bytes);
  auto tensors = read_torch_checkpoint(*file, "model_state_dict");
  ASSERT_TRUE(tensors.ok()) << tensors.status().to_string();
  ASSERT_EQ(tensors->size(), 3u);
  EXPECT_EQ((*tensors)[1].n_bytes, t[1].zero_bytes);
  EXPECT_EQ(as_f32((*tensors)[2]), (std::vector<float>{7, 8, 9}));
  unlink(path.c_str());
}

}  // namespace
}  // namespace troika::convert
