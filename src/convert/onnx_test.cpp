#include "convert/onnx.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "onnx_writer.h"

namespace troika::convert {
namespace {

namespace fs = std::filesystem;
using troika::testing::NamedTensor;
using troika::testing::OnnxWriterOptions;
using troika::testing::Phi3Dims;

fs::path temp_root() {
  return fs::temp_directory_path() / ("troika_onnx_test_" + std::to_string(getpid()));
}

// Removes this process's files when the tests are done.
class TempRoot : public ::testing::Environment {
 public:
  void TearDown() override { fs::remove_all(temp_root()); }
};
::testing::Environment* const kTempRoot = ::testing::AddGlobalTestEnvironment(new TempRoot);

// A fresh folder per test under one folder per process.
std::string fresh_dir(const std::string& name) {
  const fs::path dir = temp_root() / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

// GQA (2 kv heads for 4), head_dim 20, and K = 80 and 96: the last block of a row is partial.
Phi3Dims small_dims() { return Phi3Dims{2, 80, 96, 4, 2, 50}; }

bool is_linear(const std::string& name) {
  return name.ends_with("proj.weight") || name == "lm_head.weight";
}

std::string write_model(const std::string& test, const std::vector<NamedTensor>& tensors,
                        const OnnxWriterOptions& o) {
  const std::string path = fresh_dir(test) + "/model.onnx";
  const Status s = troika::testing::write_phi3_onnx(path, tensors, small_dims(), o);
  EXPECT_TRUE(s.ok()) << s.to_string();
  return path;
}

// Reads a model back and checks names, order, shapes, formats and values against `want`.
void expect_round_trip(const std::string& path, const std::vector<NamedTensor>& want,
                       const OnnxWriterOptions& o) {
  std::vector<std::shared_ptr<MappedFile>> keep;
  auto got = read_onnx_checkpoint(path, &keep);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  ASSERT_EQ(got->size(), want.size());
  EXPECT_EQ(keep.size(), o.external_data ? 2u : 1u);
  for (size_t t = 0; t < want.size(); ++t) {
    const SourceTensor& s = (*got)[t];
    const NamedTensor& w = want[t];
    ASSERT_EQ(s.name, w.name);
    ASSERT_EQ(s.shape, w.shape) << w.name;
    std::vector<float> v(s.numel());
    ASSERT_TRUE(s.read(v.data()).ok()) << w.name;
    const bool linear = is_linear(w.name);
    if (linear && o.quantize) {
      EXPECT_EQ(s.format,
                o.zero_points ? "ONNX MatMulNBits int4 b32 zp" : "ONNX MatMulNBits int4 b32");
      const int64_t k = w.shape[1];
      for (int64_t i = 0; i < s.numel(); ++i) {
        const int64_t block = i % k / 32 * 32, cnt = std::min<int64_t>(32, k - block);
        const float* src = w.data.data() + i / k * k + block;
        const float scale = troika::testing::rtn_int4_scale(src, cnt, o.zero_points, o.fp16);
        // RTN error is at most half a step; 1% covers the FLOAT16 rounding of the scale.
        ASSERT_LE(std::fabs(v[i] - w.data[i]), 0.51f * scale + 1e-6f)
            << w.name << " element " << i << " scale " << scale;
      }
    } else {
      const bool half = o.fp16 && !linear;
      EXPECT_EQ(s.format, linear ? "ONNX FLOAT [in,out]" : half ? "ONNX FLOAT16" : "ONNX FLOAT");
      for (int64_t i = 0; i < s.numel(); ++i) {
        const float expect =
            half ? troika::testing::half_to_float(troika::testing::float_to_half(w.data[i]))
                 : w.data[i];
        ASSERT_EQ(v[i], expect) << w.name << " element " << i;
      }
    }
  }
}

void round_trip(const std::string& test, const OnnxWriterOptions& o) {
  const auto tensors = troika::testing::random_phi3_tensors(small_dims(), 7);
  expect_round_trip(write_model(test, tensors, o), tensors, o);
}

TEST(OnnxReader, PackedQkvSymmetricFloatScales) { round_trip("packed_sym", {}); }

TEST(OnnxReader, SeparateQkvWithZeroPointsAndHalfScales) {
  OnnxWriterOptions o;
  o.packed_qkv = false;
  o.zero_points = true;
  o.fp16 = true;
  round_trip("separate_zp_f16", o);
}

TEST(OnnxReader, FloatMatMulWeightsAreTransposedBack) {
  OnnxWriterOptions o;
  o.quantize = false;
  round_trip("float", o);
}

TEST(OnnxReader, InlineRawData) {
  OnnxWriterOptions o;
  o.external_data = false;
  o.zero_points = true;
  round_trip("inline", o);
}

TEST(OnnxReader, FollowsNodeNamesWhenInitializersAreAnonymous) {
  OnnxWriterOptions o;
  o.anonymous_initializers = true;
  o.packed_qkv = false;
  round_trip("anonymous", o);
}

TEST(OnnxReader, FallsBackToInitializerNamesForUnnamedNodes) {
  OnnxWriterOptions o;
  o.unnamed_nodes = true;
  round_trip("unnamed", o);
}

TEST(OnnxReader, NoNamesAtAllIsUnimplemented) {
  OnnxWriterOptions o;
  o.unnamed_nodes = true;
  o.anonymous_initializers = true;
  const auto tensors = troika::testing::random_phi3_tensors(small_dims(), 7);
  std::vector<std::shared_ptr<MappedFile>> keep;
  auto got = read_onnx_checkpoint(write_model("nameless", tensors, o), &keep);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kUnimplemented) << got.status().to_string();
}

TEST(OnnxReader, ReadsConcurrently) {
  OnnxWriterOptions o;
  o.packed_qkv = false;
  const auto tensors = troika::testing::random_phi3_tensors(small_dims(), 3);
  std::vector<std::shared_ptr<MappedFile>> keep;
  auto got = read_onnx_checkpoint(write_model("threads", tensors, o), &keep);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  std::vector<std::vector<float>> a(got->size()), b(got->size());
  const auto read_all = [&](std::vector<std::vector<float>>* out) {
    for (size_t i = 0; i < got->size(); ++i) {
      (*out)[i].resize((*got)[i].numel());
      if (!(*got)[i].read((*out)[i].data()).ok()) (*out)[i].clear();
    }
  };
  std::thread t1(read_all, &a), t2(read_all, &b);
  t1.join();
  t2.join();
  EXPECT_EQ(a, b);
}

TEST(OnnxReader, TruncatedProtobufIsDataLoss) {
  const auto tensors = troika::testing::random_phi3_tensors(small_dims(), 1);
  const std::string path = write_model("truncated", tensors, {});
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  const std::string cut_path = fs::path(path).parent_path().string() + "/cut.onnx";
  fs::copy_file(path + ".data", cut_path + ".data");
  // Every cut inside the graph message must be reported; a cut after it (dropping only the
  // opset list) still leaves a readable model.
  const size_t step = std::max<size_t>(1, bytes.size() / 300);
  for (size_t cut = 0; cut < bytes.size(); cut += step) {
    std::ofstream(cut_path, std::ios::binary | std::ios::trunc).write(bytes.data(), cut);
    std::vector<std::shared_ptr<MappedFile>> keep;
    auto got = read_onnx_checkpoint(cut_path, &keep);
    if (cut < bytes.size() / 2 || !got.ok()) {
      ASSERT_FALSE(got.ok()) << "cut at " << cut;
      EXPECT_EQ(got.status().code(), Code::kDataLoss) << got.status().to_string();
      EXPECT_NE(got.status().message().find(cut_path), std::string::npos) << got.status().message();
    }
  }
}

TEST(OnnxReader, MalformedProtobufIsDataLoss) {
  const std::string dir = fresh_dir("malformed");
  const std::vector<std::string> cases = {
      std::string(11, '\xff'),         // a varint longer than 10 bytes
      std::string("\x3a\x05\x0a", 3),  // graph (field 7) claims 5 bytes, has 1
      std::string("\x0b\x00", 2),      // a group field
      std::string("\x08\x07", 2),      // ir_version only: no graph
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string path = dir + "/m" + std::to_string(i) + ".onnx";
    std::ofstream(path, std::ios::binary) << cases[i];
    std::vector<std::shared_ptr<MappedFile>> keep;
    auto got = read_onnx_checkpoint(path, &keep);
    ASSERT_FALSE(got.ok()) << i;
    EXPECT_EQ(got.status().code(), Code::kDataLoss) << got.status().to_string();
    EXPECT_NE(got.status().message().find(path), std::string::npos) << got.status().message();
  }
}

TEST(OnnxReader, ExternalDataOutsideItsFileIsDataLoss) {
  const auto tensors = troika::testing::random_phi3_tensors(small_dims(), 2);
  const std::string path = write_model("short_data", tensors, {});
  fs::resize_file(path + ".data", fs::file_size(path + ".data") / 2);
  std::vector<std::shared_ptr<MappedFile>> keep;
  auto got = read_onnx_checkpoint(path, &keep);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kDataLoss);
  const std::string m = got.status().message();
  EXPECT_NE(m.find(path + ".data"), std::string::npos) << m;
  EXPECT_NE(m.find("initializer '"), std::string::npos) << m;
}

TEST(OnnxReader, MissingExternalDataIsNotFound) {
  const auto tensors = troika::testing::random_phi3_tensors(small_dims(), 2);
  const std::string path = write_model("no_data", tensors, {});
  fs::remove(path + ".data");
  std::vector<std::shared_ptr<MappedFile>> keep;
  auto got = read_onnx_checkpoint(path, &keep);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kNotFound) << got.status().to_string();
  EXPECT_NE(got.status().message().find("model.embed_tokens.weight"), std::string::npos);
}

// Hand-packed values, independent of the writer: N=2, K=40, block 16 (3 blocks, the last has 8).
TEST(DequantMatMulNBits, Int4LowNibbleFirstWithPackedZeroPoints) {
  const int64_t n = 2, k = 40, bs = 16, blocks = 3;
  const auto q = [](int64_t r, int64_t c) { return int((r * 7 + c) % 16); };
  const auto zp = [](int64_t r, int64_t b) { return int((r + 5 * b) % 16); };
  std::vector<uint8_t> b(n * blocks * bs / 2, 0), zps(n * 2, 0);
  std::vector<float> scales(n * blocks);
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < k; ++c) {
      const int64_t blk = c / bs, j = c % bs;
      b[(r * blocks + blk) * bs / 2 + j / 2] |= uint8_t(q(r, c) << (j % 2 ? 4 : 0));
    }
    for (int64_t blk = 0; blk < blocks; ++blk) {
      scales[r * blocks + blk] = 0.25f * float(blk + 1) + float(r);
      zps[r * 2 + blk / 2] |= uint8_t(zp(r, blk) << (blk % 2 ? 4 : 0));
    }
  }
  MatMulNBits w{n,
                k,
                4,
                bs,
                b.data(),
                b.size(),
                DType::kF32,
                reinterpret_cast<const uint8_t*>(scales.data()),
                scales.size() * 4,
                zps.data(),
                zps.size()};
  std::vector<float> out(n * k);
  ASSERT_TRUE(dequant_matmul_nbits(w, out.data()).ok());
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < k; ++c) {
      ASSERT_EQ(out[r * k + c], float(q(r, c) - zp(r, c / bs)) * scales[r * blocks + c / bs])
          << r << "," << c;
    }
  }
  w.zero_points = nullptr;  // symmetric: zero point 8
  ASSERT_TRUE(dequant_matmul_nbits(w, out.data()).ok());
  EXPECT_EQ(out[1 * k + 33], float(q(1, 33) - 8) * scales[1 * blocks + 2]);
}

TEST(DequantMatMulNBits, Int8AndErrors) {
  const std::vector<uint8_t> b = {0, 128, 255, 7};  // N=1, K=4, one block of 16 (padded)
  std::vector<uint8_t> padded(16, 0);
  std::copy(b.begin(), b.end(), padded.begin());
  const uint16_t half_two = 0x4000;  // 2.0 in FLOAT16
  MatMulNBits w{1,
                4,
                8,
                16,
                padded.data(),
                padded.size(),
                DType::kF16,
                reinterpret_cast<const uint8_t*>(&half_two),
                2,
                nullptr,
                0};
  std::vector<float> out(4);
  ASSERT_TRUE(dequant_matmul_nbits(w, out.data()).ok());
  EXPECT_EQ(out, (std::vector<float>{-256, 0, 254, -242}));
  w.b_bytes = 15;
  EXPECT_EQ(dequant_matmul_nbits(w, out.data()).code(), Code::kDataLoss);
  w.bits = 3;
  const Status s = dequant_matmul_nbits(w, out.data());
  EXPECT_EQ(s.code(), Code::kUnimplemented);
  EXPECT_NE(s.message().find("bits=3"), std::string::npos) << s.message();
}

TEST(FindOnnxModel, OneNoneOrSeveral) {
  const std::string dir = fresh_dir("find");
  EXPECT_EQ(find_onnx_model(dir).status().code(), Code::kNotFound);
  EXPECT_EQ(find_onnx_model(dir + "/nope").status().code(), Code::kNotFound);
  std::ofstream(dir + "/model.onnx") << "x";
  std::ofstream(dir + "/model.onnx.data") << "x";
  auto one = find_onnx_model(dir);
  ASSERT_TRUE(one.ok()) << one.status().to_string();
  EXPECT_EQ(*one, dir + "/model.onnx");
  std::ofstream(dir + "/other.onnx") << "x";
  auto two = find_onnx_model(dir);
  EXPECT_EQ(two.status().code(), Code::kInvalidArgument);
  EXPECT_NE(two.status().message().find("other.onnx"), std::string::npos);
}

}  // namespace
}  // namespace troika::convert
