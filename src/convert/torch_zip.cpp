#include "convert/torch_zip.h"

#include <cstring>
#include <unordered_map>

namespace troika::convert {

namespace {
constexpr uint32_t kLocalSig = 0x04034b50;
uint16_t le16(const uint8_t* p) { return zip_le16(p); }
uint32_t le32(const uint8_t* p) { return zip_le32(p); }
uint32_t crc32_of(const uint8_t* p, size_t n) { return zip_crc32(p, n); }
}  // namespace

// ---------------------------------------------------------------------------------------------
// The restricted unpickler.

namespace {

// clang-format off
enum class Kind { kNone, kBool, kInt, kFloat, kStr, kTuple, kList, kDict, kGlobal, kStorage,
                  kTensor, kOpaque };
const char* const kKindNames[] = {"None", "bool", "int", "float", "str", "tuple", "list", "dict",
                                  "global", "storage", "tensor", "object"};
// clang-format on
const char* kind_name(Kind k) { return kKindNames[static_cast<int>(k)]; }

struct Value;
using Ref = std::shared_ptr<Value>;

// A Python value as far as we model it. Shared pointers give Python's reference semantics: the
// memo and the stack can hold the same list or dict, and mutating one mutates both.
struct Value {
  Kind kind = Kind::kNone;
  int64_t i = 0;              // kInt, kBool
  double f = 0;               // kFloat
  std::string s;              // kStr text; kGlobal "module.name"; kOpaque its maker; kStorage key
  std::vector<Ref> items;     // kTuple/kList elements; kDict as key, value, key, value, ...
  DType dtype = DType::kF32;  // kGlobal storage types and kStorage
  int lanes = 0;       // kGlobal storage types and kStorage: 1, or 2 for complex; 0 = not one
  int64_t numel = 0;   // kStorage: elements of `dtype` x lanes
  Ref storage;         // kTensor
  int64_t offset = 0;  // kTensor: storage offset, in elements
  std::vector<int64_t> size, stride;  // kTensor

  // A crafted pickle can nest lists millions deep (EMPTY_LIST n times, then APPEND n times);
  // releasing them recursively would overflow the stack, so children go through a work list.
  ~Value() {
    std::vector<Ref> pending = std::move(items);
    while (!pending.empty()) {
      Ref v = std::move(pending.back());
      pending.pop_back();
      if (v.use_count() != 1) continue;
      for (Ref& child : v->items) pending.push_back(std::move(child));
      v->items.clear();
    }
  }
};

Ref make(Kind k) {
  auto v = std::make_shared<Value>();
  v->kind = k;
  return v;
}

// torch.save writes a tensor's storage type as a legacy class (torch/storage.py,
// _dtype_to_storage_type_map); newer dtypes (float8, uint16, ...) go through
// _rebuild_tensor_v3 with an UntypedStorage instead, which we do not accept.
struct StorageType {
  const char* name;
  DType dtype;
  int lanes;
};
constexpr StorageType kStorageTypes[] = {
    {"FloatStorage", DType::kF32, 1},        {"HalfStorage", DType::kF16, 1},
    {"BFloat16Storage", DType::kBF16, 1},    {"DoubleStorage", DType::kF64, 1},
    {"LongStorage", DType::kI64, 1},         {"IntStorage", DType::kI32, 1},
    {"ShortStorage", DType::kI16, 1},        {"CharStorage", DType::kI8, 1},
    {"ByteStorage", DType::kU8, 1},          {"BoolStorage", DType::kBool, 1},
    {"ComplexFloatStorage", DType::kF32, 2}, {"ComplexDoubleStorage", DType::kF64, 2},
};

// Globals with a meaning here, and inert ones that torch.load(weights_only=True) also allows and
// that may sit beside the weights (their values become opaque objects nobody reads).
// clang-format off
constexpr const char* kKnownGlobals[] = {
    "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
    "torch.Size", "collections.Counter", "torch.device", "_codecs.encode", "builtins.set",
    "builtins.bytearray", "builtins.complex"};
// clang-format on

class Unpickler {
 public:
  Unpickler(const uint8_t* p, size_t n, std::string where)
      : p_(p), n_(n), where_(std::move(where)) {}
  Result<Ref> run();

 private:
  Status step(uint8_t op, Ref* result);
  Status bad(const std::string& what) const {
    return data_loss(where_ + " is corrupt at byte " + std::to_string(at_) + ": " + what);
  }
  Status refuse(const std::string& what) const {
    return unimplemented(where_ + " byte " + std::to_string(at_) + ": " + what +
                         "; only what torch.save writes for tensors and plain values is supported");
  }
  const uint8_t* take(size_t k) {
    if (n_ - pos_ < k) return nullptr;
    pos_ += k;
    return p_ + pos_ - k;
  }
  size_t fence() const { return marks_.empty() ? 0 : marks_.back(); }
  Ref pop() {
    if (stack_.size() <= fence()) return nullptr;
    Ref v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  // Moves everything above the last MARK into `out` and drops the mark.
  bool pop_mark(std::vector<Ref>* out) {
    if (marks_.empty()) return false;
    out->assign(std::make_move_iterator(stack_.begin() + static_cast<ptrdiff_t>(marks_.back())),
                std::make_move_iterator(stack_.end()));
    stack_.resize(marks_.back());
    marks_.pop_back();
    return true;
  }
  Status push_int(const uint8_t* b, size_t k);
  Status push_str();
  Status push_global(const std::string& module, const std::string& name);
  Status reduce();
  Status persistent_load();

  const uint8_t* p_;
  size_t n_;
  std::string where_;
  size_t pos_ = 0, at_ = 0;
  std::vector<Ref> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Ref> memo_;
};

Result<Ref> Unpickler::run() {
  while (pos_ < n_) {
    at_ = pos_;
    Ref result;
    TROIKA_RETURN_IF_ERROR(step(p_[pos_++], &result));
    if (result) return result;
  }
  at_ = pos_;
  return bad("the pickle ends without a STOP opcode (truncated?)");
}

// Little-endian two's complement of k bytes (BININT, LONG1), up to 64 bits.
Status Unpickler::push_int(const uint8_t* b, size_t k) {
  if (k > 8) return refuse("an integer wider than 64 bits");
  uint64_t u = 0;
  for (size_t j = 0; j < k; ++j) u |= uint64_t{b[j]} << (8 * j);
  if (k > 0 && k < 8 && (b[k - 1] & 0x80)) u |= ~uint64_t{0} << (8 * k);
  auto v = make(Kind::kInt);
  v->i = static_cast<int64_t>(u);
  stack_.push_back(std::move(v));
  return Status::Ok();
}

Status Unpickler::push_str() {
  const uint8_t* b = take(4);
  const uint32_t len = b ? le32(b) : 0;
  const uint8_t* s = b ? take(len) : nullptr;
  if (!s) return bad("a string runs past the end (truncated?)");
  auto v = make(Kind::kStr);
  v->s.assign(reinterpret_cast<const char*>(s), len);
  stack_.push_back(std::move(v));
  return Status::Ok();
}

Status Unpickler::push_global(const std::string& module, const std::string& name) {
  auto v = make(Kind::kGlobal);
  v->s = module + "." + name;
  if (module == "torch" && name.size() > 7 && name.ends_with("Storage")) {
    for (const auto& t : kStorageTypes) {
      if (name == t.name) {
        v->dtype = t.dtype;
        v->lanes = t.lanes;
      }
    }
    if (v->lanes == 0) return refuse("storage type torch." + name + " is not supported");
  } else {
    bool known = false;
    for (const char* g : kKnownGlobals) known = known || v->s == g;
    if (!known) return refuse("pickle GLOBAL '" + v->s + "' is not allowed");
  }
  stack_.push_back(std::move(v));
  return Status::Ok();
}

// A storage reference: ('storage', storage_type, key, location, numel), torch/serialization.py
// persistent_id. The location ("cpu", "cuda:0") does not matter for reading bytes.
Status Unpickler::persistent_load() {
  Ref pid = pop();
  if (!pid) return bad("BINPERSID on an empty stack");
  const auto& t = pid->items;
  if (pid->kind != Kind::kTuple || t.size() != 5 || t[0]->kind != Kind::kStr ||
      t[0]->s != "storage") {
    return refuse("a persistent id other than ('storage', type, key, location, numel)");
  }
  if (t[1]->kind != Kind::kGlobal || t[1]->lanes == 0 || t[2]->kind != Kind::kStr ||
      t[4]->kind != Kind::kInt || t[4]->i < 0) {
    return bad("a malformed storage persistent id");
  }
  auto v = make(Kind::kStorage);
  v->s = t[2]->s;
  v->dtype = t[1]->dtype;
  v->lanes = t[1]->lanes;
  v->numel = t[4]->i;
  stack_.push_back(std::move(v));
  return Status::Ok();
}

bool all_ints(const Value& v, bool non_negative) {
  if (v.kind != Kind::kTuple) return false;
  for (const auto& x : v.items) {
    if (x->kind != Kind::kInt || (non_negative && x->i < 0)) return false;
  }
  return true;
}

Status Unpickler::reduce() {
  Ref args = pop();
  Ref fn = pop();
  if (!args || !fn) return bad("REDUCE needs a callable and arguments on the stack");
  if (fn->kind != Kind::kGlobal || args->kind != Kind::kTuple) {
    return bad("REDUCE of a " + std::string(kind_name(fn->kind)) + " with " +
               kind_name(args->kind) + " arguments");
  }
  const auto& a = args->items;
  Ref out;
  if (fn->s == "collections.OrderedDict") {
    if (!a.empty()) return refuse(fn->s + " built from arguments");
    out = make(Kind::kDict);
  } else if (fn->s == "torch._utils._rebuild_tensor_v2") {
    // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]),
    // torch/_tensor.py _reduce_ex_internal.
    if ((a.size() != 6 && a.size() != 7) || a[0]->kind != Kind::kStorage ||
        a[1]->kind != Kind::kInt || a[1]->i < 0 || !all_ints(*a[2], true) ||
        !all_ints(*a[3], false) || a[2]->items.size() != a[3]->items.size()) {
      return bad("malformed _rebuild_tensor_v2 arguments");
    }
    out = make(Kind::kTensor);
    out->storage = a[0];
    out->offset = a[1]->i;
    for (const auto& x : a[2]->items) out->size.push_back(x->i);
    for (const auto& x : a[3]->items) out->stride.push_back(x->i);
  } else if (fn->s == "torch._utils._rebuild_parameter") {
    if (a.empty() || a[0]->kind != Kind::kTensor) return bad("malformed _rebuild_parameter");
    out = a[0];
  } else if (fn->s == "torch.Size") {
    if (a.size() != 1 || a[0]->kind != Kind::kTuple) return bad("malformed torch.Size");
    out = a[0];
  } else if (fn->lanes != 0) {
    return refuse("calling storage type " + fn->s);
  } else {
    out = make(Kind::kOpaque);
    out->s = fn->s;
  }
  stack_.push_back(std::move(out));
  return Status::Ok();
}

// One opcode. Only those CPython's pickler emits at protocol 2 for dicts, lists, tuples, ints,
// floats, strings, bools, None and torch's reduce tuples; torch.save uses protocol 2.
Status Unpickler::step(uint8_t op, Ref* result) {
  std::vector<Ref> items;
  const uint8_t* b = nullptr;
  auto need = [&](size_t k) { return (b = take(k)) != nullptr; };
  auto push = [&](Kind k, int64_t i = 0) {
    stack_.push_back(make(k));
    stack_.back()->i = i;
    return Status::Ok();
  };
  switch (op) {
    case 0x80:  // PROTO
      return need(1) ? Status::Ok() : bad("truncated PROTO");
    case '.':  // STOP
      *result = pop();
      return *result ? Status::Ok() : bad("STOP on an empty stack");
    case '(':  // MARK
      marks_.push_back(stack_.size());
      return Status::Ok();
    case 'N':
      return push(Kind::kNone);
    case 0x88:  // NEWTRUE
    case 0x89:  // NEWFALSE
      return push(Kind::kBool, op == 0x88);
    case '}':  // EMPTY_DICT
      return push(Kind::kDict);
    case ']':  // EMPTY_LIST
      return push(Kind::kList);
    case ')':  // EMPTY_TUPLE
      return push(Kind::kTuple);
    case 'K':  // BININT1
      return need(1) ? push(Kind::kInt, b[0]) : bad("truncated BININT1");
    case 'M':  // BININT2
      return need(2) ? push(Kind::kInt, le16(b)) : bad("truncated BININT2");
    case 'J':  // BININT
      return need(4) ? push_int(b, 4) : bad("truncated BININT");
    case 0x8a: {  // LONG1
      if (!need(1)) return bad("truncated LONG1");
      const size_t k = b[0];
      return need(k) ? push_int(b, k) : bad("truncated LONG1");
    }
    case 'G': {  // BINFLOAT, big-endian
      if (!need(8)) return bad("truncated BINFLOAT");
      uint64_t u = 0;
      for (int j = 0; j < 8; ++j) u = u << 8 | b[j];
      TROIKA_RETURN_IF_ERROR(push(Kind::kFloat));
      std::memcpy(&stack_.back()->f, &u, 8);
      return Status::Ok();
    }
    case 'X':  // BINUNICODE
      return push_str();
    case 't':    // TUPLE
    case 'l':    // LIST
    case 'd': {  // DICT
      if (!pop_mark(&items)) return bad("TUPLE/LIST/DICT without a MARK");
      if (op == 'd' && items.size() % 2 != 0) return bad("DICT with an odd number of items");
      TROIKA_RETURN_IF_ERROR(push(op == 't'   ? Kind::kTuple
                                  : op == 'l' ? Kind::kList
                                              : Kind::kDict));
      stack_.back()->items = std::move(items);
      return Status::Ok();
    }
    case 0x85:    // TUPLE1
    case 0x86:    // TUPLE2
    case 0x87: {  // TUPLE3
      const size_t k = op - 0x84;
      if (stack_.size() < fence() + k) return bad("TUPLE" + std::to_string(k) + " underflow");
      items.assign(stack_.end() - static_cast<ptrdiff_t>(k), stack_.end());
      stack_.resize(stack_.size() - k);
      TROIKA_RETURN_IF_ERROR(push(Kind::kTuple));
      stack_.back()->items = std::move(items);
      return Status::Ok();
    }
    case 'a':    // APPEND
    case 'e':    // APPENDS
    case 's':    // SETITEM
    case 'u': {  // SETITEMS
      if (op == 'a' || op == 's') {
        const size_t k = op == 'a' ? 1 : 2;
        if (stack_.size() < fence() + k) return bad("APPEND/SETITEM underflow");
        items.assign(stack_.end() - static_cast<ptrdiff_t>(k), stack_.end());
        stack_.resize(stack_.size() - k);
      } else if (!pop_mark(&items)) {
        return bad("APPENDS/SETITEMS without a MARK");
      }
      const bool to_list = op == 'a' || op == 'e';
      const Kind want = to_list ? Kind::kList : Kind::kDict;
      if (stack_.size() <= fence() || stack_.back()->kind != want) {
        return bad(std::string(to_list ? "APPEND" : "SETITEM") + " without a " + kind_name(want));
      }
      if (!to_list && items.size() % 2 != 0) return bad("SETITEMS with an odd number of items");
      for (auto& x : items) stack_.back()->items.push_back(std::move(x));
      return Status::Ok();
    }
    case '0':  // POP
      return pop() ? Status::Ok() : bad("POP on an empty stack");
    case '1':  // POP_MARK
      return pop_mark(&items) ? Status::Ok() : bad("POP_MARK without a MARK");
    case '2':  // DUP
      if (stack_.size() <= fence()) return bad("DUP on an empty stack");
      stack_.push_back(stack_.back());
      return Status::Ok();
    case 'q':  // BINPUT
    case 'r':  // LONG_BINPUT
      if (!need(op == 'q' ? 1 : 4)) return bad("truncated BINPUT");
      if (stack_.size() <= fence()) return bad("BINPUT on an empty stack");
      memo_[op == 'q' ? b[0] : le32(b)] = stack_.back();
      return Status::Ok();
    case 'h':    // BINGET
    case 'j': {  // LONG_BINGET
      if (!need(op == 'h' ? 1 : 4)) return bad("truncated BINGET");
      auto it = memo_.find(op == 'h' ? b[0] : le32(b));
      if (it == memo_.end()) return bad("BINGET of a memo slot never set");
      stack_.push_back(it->second);
      return Status::Ok();
    }
    case 'c': {  // GLOBAL "module\nname\n"
      std::string parts[2];
      for (auto& part : parts) {
        const auto* nl = static_cast<const uint8_t*>(std::memchr(p_ + pos_, '\n', n_ - pos_));
        if (!nl) return bad("truncated GLOBAL");
        part.assign(reinterpret_cast<const char*>(p_ + pos_), nl - (p_ + pos_));
        pos_ = nl - p_ + 1;
      }
      return push_global(parts[0], parts[1]);
    }
    case 'R':  // REDUCE
      return reduce();
    case 'b': {  // BUILD: state for the object below it
      Ref state = pop();
      if (!state || stack_.size() <= fence()) return bad("BUILD underflow");
      // A state dict (OrderedDict) carries attributes such as _metadata (module versions); they
      // do not affect the tensors.
      const Kind k = stack_.back()->kind;
      if (k == Kind::kDict || k == Kind::kOpaque) return Status::Ok();
      return refuse(std::string("BUILD of a ") + kind_name(k));
    }
    case 'Q':  // BINPERSID
      return persistent_load();
    default: {
      static const char kHex[] = "0123456789abcdef";
      std::string name = {'0', 'x', kHex[op >> 4], kHex[op & 15]};
      if (op >= 0x20 && op < 0x7f) name += std::string(" '") + static_cast<char>(op) + "'";
      return refuse("pickle opcode " + name);
    }
  }
}

// torch's rule for a contiguous tensor (c10 compute_contiguous): dimensions of size 1 may have
// any stride, and an empty tensor is contiguous.
bool is_contiguous(const std::vector<int64_t>& size, const std::vector<int64_t>& stride) {
  int64_t expected = 1;
  for (size_t d = size.size(); d-- > 0;) {
    if (size[d] == 0) return true;
  }
  for (size_t d = size.size(); d-- > 0;) {
    if (size[d] == 1) continue;
    if (stride[d] != expected) return false;
    expected *= size[d];
  }
  return true;
}

std::string dims(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t d = 0; d < v.size(); ++d) s += (d ? ", " : "") + std::to_string(v[d]);
  return s + "]";
}

bool holds_tensors(const Value& dict) {
  for (size_t j = 1; j < dict.items.size(); j += 2) {
    if (dict.items[j]->kind == Kind::kTensor) return true;
  }
  return false;
}

std::string keys_of(const Value& dict) {
  std::string s;
  for (size_t j = 0; j < dict.items.size() && j < 40; j += 2) {
    const Value& k = *dict.items[j];
    s +=
        (j ? ", " : "") + (k.kind == Kind::kStr ? "'" + k.s + "'" : std::string(kind_name(k.kind)));
  }
  return s.empty() ? "none" : s;
}

// The dict whose tensors the caller wants (see the header for the rule).
Result<const Value*> select_dict(const Value& root, const std::string& name,
                                 const std::string& dict_key) {
  if (root.kind != Kind::kDict) {
    return unimplemented(name + ": the checkpoint holds a " + kind_name(root.kind) +
                         ", not a dict of tensors");
  }
  if (!dict_key.empty()) {
    for (size_t j = 0; j + 1 < root.items.size(); j += 2) {
      const Value& k = *root.items[j];
      if (k.kind != Kind::kStr || k.s != dict_key) continue;
      const Value& v = *root.items[j + 1];
      if (v.kind != Kind::kDict) {
        return not_found(name + ": '" + dict_key + "' holds a " + kind_name(v.kind) +
                         ", not a dict of tensors");
      }
      return &v;
    }
    return not_found(name + ": no key '" + dict_key +
                     "' in the checkpoint's top-level dict (keys: " + keys_of(root) + ")");
  }
  if (holds_tensors(root)) return &root;
  const Value* found = nullptr;
  for (size_t j = 1; j < root.items.size(); j += 2) {
    const Value& v = *root.items[j];
    if (v.kind != Kind::kDict || !holds_tensors(v)) continue;
    if (found) {
      return invalid_argument(name + ": several nested dicts hold tensors (keys: " + keys_of(root) +
                              "); name the one to read");
    }
    found = &v;
  }
  if (!found) {
    return not_found(name + ": no tensors in the checkpoint (top-level keys: " + keys_of(root) +
                     ")");
  }
  return found;
}

Status check_stored(const ZipEntry& e, const std::string& name) {
  if (e.flags & 1) return unimplemented(name + ": entry '" + e.name + "' is encrypted");
  if (e.method != 0) {
    return unimplemented(
        name + ": entry '" + e.name + "' is compressed (zip method " + std::to_string(e.method) +
        "); torch.save stores entries uncompressed, so re-save it with torch.save");
  }
  if (e.compressed_size != e.size) {
    return data_loss(name + ": stored entry '" + e.name + "' has compressed size " +
                     std::to_string(e.compressed_size) + " but size " + std::to_string(e.size));
  }
  return Status::Ok();
}

// A RawTensor for one pickled tensor, pointing into its storage entry.
Result<RawTensor> make_tensor(const std::string& tname, const Value& t, const ZipEntries& zip,
                              const std::string& prefix, const uint8_t* data,
                              const std::string& name) {
  const Value& st = *t.storage;
  const std::string what = name + ": tensor '" + tname + "'";
  if (!is_contiguous(t.size, t.stride)) {
    return unimplemented(what + " is not contiguous (shape " + dims(t.size) + ", stride " +
                         dims(t.stride) + "); save it after .contiguous()");
  }
  const uint64_t elem = dtype_size(st.dtype) * st.lanes;
  uint64_t numel = 1, n_bytes = 0, storage_bytes = 0, end = 0;
  for (int64_t d : t.size) {
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel)) numel = UINT64_MAX;
  }
  const ZipEntry* e = zip.find(prefix + "data/" + st.s);
  if (!e)
    return data_loss(what + " uses storage '" + st.s + "' but there is no entry '" + prefix +
                     "data/" + st.s + "'");
  TROIKA_RETURN_IF_ERROR(check_stored(*e, name));
  if (__builtin_mul_overflow(static_cast<uint64_t>(st.numel), elem, &storage_bytes) ||
      e->size < storage_bytes) {
    return data_loss(name + ": entry '" + e->name + "' holds " + std::to_string(e->size) +
                     " bytes, less than its " + std::to_string(st.numel) + " elements need");
  }
  if (numel > 0 && (__builtin_add_overflow(static_cast<uint64_t>(t.offset), numel, &end) ||
                    end > static_cast<uint64_t>(st.numel))) {
    return data_loss(what + " (offset " + std::to_string(t.offset) + ", shape " + dims(t.size) +
                     ") runs past its storage of " + std::to_string(st.numel) + " elements");
  }
  n_bytes = numel * elem;  // bounded by storage_bytes above
  RawTensor r;
  r.name = tname;
  r.dtype = st.dtype;
  r.shape = t.size;
  if (st.lanes == 2) r.shape.push_back(2);
  r.data = data + e->data_offset + (numel > 0 ? t.offset * elem : 0);
  r.n_bytes = numel > 0 ? n_bytes : 0;
  r.file = name;
  return r;
}

}  // namespace

Result<std::vector<RawTensor>> parse_torch_checkpoint(const uint8_t* data, size_t size,
                                                      const std::string& name,
                                                      const std::string& dict_key) {
  // The pre-1.6 format is a bare pickle stream starting with PROTO 2 and a magic number.
  if (size >= 2 && data[0] == 0x80 && data[1] == 0x02) {
    return unimplemented(name +
                         ": a legacy (pre-PyTorch-1.6, non-zip) torch.save file; re-save "
                         "it with a current PyTorch");
  }
  if (size < 4 || le32(data) != kLocalSig) {
    return data_loss(name + ": not a torch.save checkpoint: it does not start with a zip header");
  }
  TROIKA_ASSIGN_OR_RETURN(ZipEntries zip, list_zip(data, size, name));
  // Every record sits under one folder, named after the first entry's (as torch's reader does).
  const std::string first = zip.entries.empty() ? std::string() : zip.entries[0].name;
  const size_t slash = first.find('/');
  if (slash == std::string::npos) {
    return data_loss(name + ": not a torch.save checkpoint: its first entry '" + first +
                     "' is not inside a folder");
  }
  const std::string prefix = first.substr(0, slash + 1);
  const ZipEntry* pkl = zip.find(prefix + "data.pkl");
  if (!pkl) {
    if (zip.find(prefix + "constants.pkl")) {
      return unimplemented(name +
                           ": a TorchScript archive (torch.jit.save), not a torch.save checkpoint");
    }
    return data_loss(name + ": not a torch.save checkpoint: no entry '" + prefix + "data.pkl'");
  }
  TROIKA_RETURN_IF_ERROR(check_stored(*pkl, name));
  if (crc32_of(data + pkl->data_offset, pkl->size) != pkl->crc32) {
    return data_loss(name + ": entry '" + pkl->name + "' fails its CRC-32 check (corrupt)");
  }
  if (const ZipEntry* bo = zip.find(prefix + "byteorder")) {
    TROIKA_RETURN_IF_ERROR(check_stored(*bo, name));
    const std::string order(reinterpret_cast<const char*>(data + bo->data_offset), bo->size);
    if (order == "big") {
      return unimplemented(name +
                           ": a big-endian checkpoint; re-save it on a little-endian machine");
    }
    if (order != "little") return data_loss(name + ": unknown byteorder record '" + order + "'");
  }
  Unpickler vm(data + pkl->data_offset, pkl->size, name + ": " + pkl->name);
  TROIKA_ASSIGN_OR_RETURN(Ref root, vm.run());
  TROIKA_ASSIGN_OR_RETURN(const Value* dict, select_dict(*root, name, dict_key));

  std::vector<RawTensor> out;
  for (size_t j = 0; j + 1 < dict->items.size(); j += 2) {
    const Value& k = *dict->items[j];
    const Value& v = *dict->items[j + 1];
    if (v.kind != Kind::kTensor) continue;
    if (k.kind != Kind::kStr) return data_loss(name + ": a tensor's key is not a string");
    TROIKA_ASSIGN_OR_RETURN(RawTensor t, make_tensor(k.s, v, zip, prefix, data, name));
    out.push_back(std::move(t));
  }
  return out;
}

Result<std::vector<RawTensor>> read_torch_checkpoint(std::shared_ptr<MappedFile> file,
                                                     const std::string& dict_key) {
  return parse_torch_checkpoint(file->data(), file->size(), file->path(), dict_key);
}

}  // namespace troika::convert
