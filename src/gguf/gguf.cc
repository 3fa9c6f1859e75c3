#include "gguf/gguf.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstring>
#include <limits>
#include <string>
#include <unordered_map>
#include <utility>

namespace suanli {

// Fields are read with memcpy in host order; GGUF is little-endian.
static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes little-endian");

namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr int kMaxArrayDepth = 8;            // arrays of arrays deeper than this are rejected
constexpr uint32_t kMaxDims = 4;             // GGML_MAX_DIMS
constexpr uint64_t kDefaultAlignment = 32;
constexpr uint32_t kLastValueType = static_cast<uint32_t>(GgufValueType::kFloat64);

// The fewest bytes one value of type `t` can occupy, used to bound counts before allocating.
size_t MinValueBytes(GgufValueType t) {
  switch (t) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kBool:
      return 1;
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
      return 2;
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kFloat32:
      return 4;
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
    case GgufValueType::kFloat64:
    case GgufValueType::kString:
      return 8;  // u64 length, possibly empty
    case GgufValueType::kArray:
      return 4 + 8;  // elem type + count, possibly empty
  }
  return 1;
}

// Smallest metadata entry: empty key (8) + value type (4) + a one-byte value.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;
// Smallest tensor info: empty name (8) + n_dims (4) + one dim (8) + type (4) + offset (8).
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;

bool IsUnsignedType(GgufValueType t) {
  return t == GgufValueType::kUint8 || t == GgufValueType::kUint16 || t == GgufValueType::kUint32 ||
         t == GgufValueType::kUint64;
}
bool IsSignedType(GgufValueType t) {
  return t == GgufValueType::kInt8 || t == GgufValueType::kInt16 || t == GgufValueType::kInt32 ||
         t == GgufValueType::kInt64;
}

// Escapes `s` for display: quotes, backslashes and control bytes become C escapes.
void AppendEscaped(std::string_view s, std::string* out) {
  static const char kHex[] = "0123456789abcdef";
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          *out += "\\x";
          *out += kHex[c >> 4];
          *out += kHex[c & 15];
        } else {
          *out += ch;  // UTF-8 passes through unchanged
        }
    }
  }
}

// A key or tensor name for an error message: quoted, escaped, and cut short if huge.
std::string Quote(std::string_view s) {
  constexpr size_t kMax = 96;
  std::string out = "'";
  AppendEscaped(s.substr(0, kMax), &out);
  if (s.size() > kMax) out += "...";
  out += "'";
  return out;
}

template <typename F>
void AppendFloat(F v, std::string* out) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);  // shortest round-trip form
  out->append(buf, r.ptr);
}

// "int32", or for arrays of arrays "array<int32>" (from the first element, if any).
std::string ElemTypeName(const GgufValue& v) {
  if (v.elem_type == GgufValueType::kArray && !v.array.empty())
    return "array<" + ElemTypeName(v.array[0]) + ">";
  return std::string(GgufValueTypeName(v.elem_type));
}

void AppendValue(const GgufValue& v, size_t max_elems, bool top, std::string* out) {
  switch (v.type) {
    case GgufValueType::kUint8:
    case GgufValueType::kUint16:
    case GgufValueType::kUint32:
    case GgufValueType::kUint64:
      *out += std::to_string(v.u);
      break;
    case GgufValueType::kInt8:
    case GgufValueType::kInt16:
    case GgufValueType::kInt32:
    case GgufValueType::kInt64:
      *out += std::to_string(v.i);
      break;
    case GgufValueType::kBool:
      *out += v.u ? "true" : "false";
      break;
    case GgufValueType::kFloat32:
      AppendFloat(static_cast<float>(v.f), out);
      break;
    case GgufValueType::kFloat64:
      AppendFloat(v.f, out);
      break;
    case GgufValueType::kString:
      *out += '"';
      AppendEscaped(v.str, out);
      *out += '"';
      break;
    case GgufValueType::kArray: {
      // Only the outermost array names its element type; nested ones are plain brackets.
      if (top) *out += "array<" + ElemTypeName(v) + "> ";
      *out += '[';
      size_t shown = std::min(max_elems, v.array.size());
      for (size_t k = 0; k < shown; ++k) {
        if (k) *out += ", ";
        AppendValue(v.array[k], max_elems, false, out);
      }
      if (shown < v.array.size()) {
        if (shown) *out += ", ";
        *out += "... (" + std::to_string(v.array.size()) + " total)";
      }
      *out += ']';
      break;
    }
  }
}

// Allocates room for n array elements. Fresh memory is faulted in a 4 KB page at a time, which is
// slow (very slow under some hypervisors), and a 150k-token vocabulary needs 12 MB of GgufValues
// per array: so big arrays ask for huge pages and are faulted in with one call. Both are hints.
void ReserveElements(std::vector<GgufValue>* v, size_t n) {
  v->reserve(n);
  const size_t bytes = n * sizeof(GgufValue);
  if (bytes < (size_t{4} << 20)) return;
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(v->data()) + page - 1) & ~(page - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(v->data()) + bytes) & ~(page - 1);
  if (end <= begin) return;
#ifdef MADV_HUGEPAGE
  ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#endif
#ifdef MADV_POPULATE_WRITE
  ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE);
#endif
}

// Parses the whole file; keeps a description of where it is so every error names the field.
class Parser {
 public:
  Parser(const uint8_t* base, size_t size, const std::string& name)
      : base_(base), size_(size), name_(name) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }

  Status Error(std::string msg) const { return InvalidArgument(name_ + ": " + msg); }
  Status Error(StatusCode code, std::string msg) const { return Status(code, name_ + ": " + msg); }

  Status Truncated(std::string_view field, std::string_view detail = {}) const {
    std::string m = "truncated while reading " + std::string(field) + Where() + " at offset " +
                    std::to_string(pos_);
    if (!detail.empty()) m += ": " + std::string(detail);
    return Error(std::move(m));
  }

  // " of metadata entry 3 ('key') element [4][1]", or "" in the header.
  std::string Where() const {
    std::string w;
    if (section_ == Section::kMetadata) {
      w = " of metadata entry " + std::to_string(index_);
    } else if (section_ == Section::kTensorInfo) {
      w = " of tensor info " + std::to_string(index_);
    } else {
      return w;
    }
    if (has_item_name_) w += " (" + Quote(item_name_) + ")";
    if (depth_ > 0) {
      w += " element ";
      for (int d = 0; d < depth_; ++d) {
        w += '[';
        w += std::to_string(elem_path_[d]);
        w += ']';
      }
    }
    return w;
  }

  void EnterItem(bool tensor, uint64_t index) {
    section_ = tensor ? Section::kTensorInfo : Section::kMetadata;
    index_ = index;
    has_item_name_ = false;
    depth_ = 0;
  }
  void SetItemName(std::string_view n) {
    item_name_ = n;
    has_item_name_ = true;
  }

  template <typename T>
  Status Read(std::string_view field, T* v) {
    if (remaining() < sizeof(T)) return Truncated(field);
    std::memcpy(v, base_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::Ok();
  }

  Status ReadString(std::string_view field, std::string_view* s) {
    uint64_t len = 0;
    if (remaining() < sizeof(len)) return Truncated(std::string(field) + " length");
    std::memcpy(&len, base_ + pos_, sizeof(len));
    pos_ += sizeof(len);
    if (len > remaining()) {
      return Truncated(field, "length " + std::to_string(len) + " but only " +
                                  std::to_string(remaining()) + " bytes remain");
    }
    *s = std::string_view(reinterpret_cast<const char*>(base_ + pos_), len);
    pos_ += len;
    return Status::Ok();
  }

  Status CheckValueType(uint32_t t, std::string_view what) const {
    if (t > kLastValueType) {
      return Error("unknown " + std::string(what) + " " + std::to_string(t) + Where() +
                   " at offset " + std::to_string(pos_ - 4));
    }
    return Status::Ok();
  }

  // Reads one value of type `t` (already validated); `depth` counts enclosing arrays.
  Status ReadValue(GgufValueType t, int depth, GgufValue* out) {
    out->type = t;
    switch (t) {
      case GgufValueType::kUint8:
        return ReadScalar<uint8_t>(&out->u);
      case GgufValueType::kInt8:
        return ReadScalar<int8_t>(&out->i);
      case GgufValueType::kUint16:
        return ReadScalar<uint16_t>(&out->u);
      case GgufValueType::kInt16:
        return ReadScalar<int16_t>(&out->i);
      case GgufValueType::kUint32:
        return ReadScalar<uint32_t>(&out->u);
      case GgufValueType::kInt32:
        return ReadScalar<int32_t>(&out->i);
      case GgufValueType::kUint64:
        return ReadScalar<uint64_t>(&out->u);
      case GgufValueType::kInt64:
        return ReadScalar<int64_t>(&out->i);
      case GgufValueType::kFloat32:
        return ReadScalar<float>(&out->f);
      case GgufValueType::kFloat64:
        return ReadScalar<double>(&out->f);
      case GgufValueType::kBool: {
        uint8_t b = 0;
        SL_RETURN_IF_ERROR(Read("value", &b));
        out->u = b != 0;
        return Status::Ok();
      }
      case GgufValueType::kString:
        return ReadString("string value", &out->str);
      case GgufValueType::kArray:
        return ReadArray(depth, out);
    }
    return Error("internal: unhandled value type");
  }

 private:
  enum class Section { kHeader, kMetadata, kTensorInfo };

  template <typename Wire, typename Field>
  Status ReadScalar(Field* dst) {
    Wire w{};
    SL_RETURN_IF_ERROR(Read("value", &w));
    *dst = static_cast<Field>(w);
    return Status::Ok();
  }

  Status ReadArray(int depth, GgufValue* out) {
    if (depth >= kMaxArrayDepth) {
      return Error("arrays nested deeper than " + std::to_string(kMaxArrayDepth) + Where() +
                   " at offset " + std::to_string(pos_));
    }
    uint32_t et = 0;
    SL_RETURN_IF_ERROR(Read("array element type", &et));
    SL_RETURN_IF_ERROR(CheckValueType(et, "array element type"));
    uint64_t n = 0;
    SL_RETURN_IF_ERROR(Read("array count", &n));
    const GgufValueType elem = static_cast<GgufValueType>(et);
    // Bound the count by the bytes present before allocating anything for it.
    const size_t min_bytes = MinValueBytes(elem);
    if (n > remaining() / min_bytes) {
      return Error("array count " + std::to_string(n) + Where() + " at offset " +
                   std::to_string(pos_ - 8) + " cannot fit in the " + std::to_string(remaining()) +
                   " bytes remaining (each " + std::string(GgufValueTypeName(elem)) +
                   " takes at least " + std::to_string(min_bytes) + ")");
    }
    out->elem_type = elem;
    ReserveElements(&out->array, static_cast<size_t>(n));
    depth_ = depth + 1;
    for (uint64_t k = 0; k < n; ++k) {
      elem_path_[depth] = k;
      // Constructed one at a time so each element's memory is written once, while hot.
      SL_RETURN_IF_ERROR(ReadValue(elem, depth + 1, &out->array.emplace_back()));
    }
    depth_ = depth;
    return Status::Ok();
  }

  const uint8_t* base_;
  size_t size_;
  const std::string& name_;
  size_t pos_ = 0;

  Section section_ = Section::kHeader;
  uint64_t index_ = 0;
  std::string_view item_name_;
  bool has_item_name_ = false;
  int depth_ = 0;
  uint64_t elem_path_[kMaxArrayDepth] = {};
};

std::string DimsString(const std::vector<int64_t>& dims) {
  std::string s = "{";
  for (size_t k = 0; k < dims.size(); ++k) s += (k ? ", " : "") + std::to_string(dims[k]);
  return s + "}";
}

}  // namespace

std::string_view GgufValueTypeName(GgufValueType t) {
  switch (t) {
    case GgufValueType::kUint8:
      return "uint8";
    case GgufValueType::kInt8:
      return "int8";
    case GgufValueType::kUint16:
      return "uint16";
    case GgufValueType::kInt16:
      return "int16";
    case GgufValueType::kUint32:
      return "uint32";
    case GgufValueType::kInt32:
      return "int32";
    case GgufValueType::kFloat32:
      return "float32";
    case GgufValueType::kBool:
      return "bool";
    case GgufValueType::kString:
      return "string";
    case GgufValueType::kArray:
      return "array";
    case GgufValueType::kUint64:
      return "uint64";
    case GgufValueType::kInt64:
      return "int64";
    case GgufValueType::kFloat64:
      return "float64";
  }
  return "unknown";
}

bool GgufValue::is_integer() const { return IsUnsignedType(type) || IsSignedType(type); }

std::string GgufValue::ToString(size_t max_elems) const {
  std::string out;
  AppendValue(*this, max_elems, true, &out);
  return out;
}

int64_t GgufTensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;  // the reader rejected products that overflow
  return n;
}

StatusOr<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path, LoadMode mode) {
  SL_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> mapped, MappedFile::Open(path, mode));
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->name_ = path;
  f->base_ = mapped->data();
  f->size_ = mapped->size();
  f->file_ = std::move(mapped);
  SL_RETURN_IF_ERROR(f->ParseAll());
  return f;
}

StatusOr<std::unique_ptr<GgufFile>> GgufFile::Parse(const uint8_t* data, size_t size,
                                                    std::string name) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->name_ = std::move(name);
  f->base_ = data;
  f->size_ = data ? size : 0;
  SL_RETURN_IF_ERROR(f->ParseAll());
  return f;
}

Status GgufFile::ParseAll() {
  Parser p(base_, size_, name_);

  // Header.
  uint32_t magic = 0;
  SL_RETURN_IF_ERROR(p.Read("magic", &magic));
  if (magic != kGgufMagic) return p.Error("not a GGUF file (bad magic)");
  SL_RETURN_IF_ERROR(p.Read("version", &version_));
  if (version_ < 2 || version_ > 3) {
    std::string m = "unsupported GGUF version " + std::to_string(version_);
    // A big-endian file (written for s390x) has its version byte-swapped.
    if (version_ == 0x02000000 || version_ == 0x03000000)
      m += " (big-endian files are not supported)";
    return p.Error(StatusCode::kUnimplemented, std::move(m));
  }
  uint64_t n_tensors = 0, n_kv = 0;
  SL_RETURN_IF_ERROR(p.Read("n_tensors", &n_tensors));
  SL_RETURN_IF_ERROR(p.Read("n_kv", &n_kv));
  const uint64_t rest = p.remaining();
  if (n_tensors > rest / kMinTensorInfoBytes) {
    return p.Error("n_tensors " + std::to_string(n_tensors) + " cannot fit in the " +
                   std::to_string(rest) + " bytes after the header");
  }
  if (n_kv > rest / kMinKvBytes || n_kv * kMinKvBytes + n_tensors * kMinTensorInfoBytes > rest) {
    return p.Error("n_kv " + std::to_string(n_kv) + " (with n_tensors " +
                   std::to_string(n_tensors) + ") cannot fit in the " + std::to_string(rest) +
                   " bytes after the header");
  }

  // Metadata.
  kvs_.resize(static_cast<size_t>(n_kv));
  std::unordered_map<std::string_view, uint64_t> seen_keys;
  seen_keys.reserve(static_cast<size_t>(n_kv));
  for (uint64_t k = 0; k < n_kv; ++k) {
    p.EnterItem(/*tensor=*/false, k);
    GgufKV& kv = kvs_[k];
    SL_RETURN_IF_ERROR(p.ReadString("key", &kv.key));
    p.SetItemName(kv.key);
    uint32_t type = 0;
    SL_RETURN_IF_ERROR(p.Read("value type", &type));
    SL_RETURN_IF_ERROR(p.CheckValueType(type, "value type"));
    SL_RETURN_IF_ERROR(p.ReadValue(static_cast<GgufValueType>(type), 0, &kv.value));
    auto [it, inserted] = seen_keys.emplace(kv.key, k);
    if (!inserted) {
      return p.Error("duplicate metadata key " + Quote(kv.key) + " (entries " +
                     std::to_string(it->second) + " and " + std::to_string(k) + ")");
    }
  }

  alignment_ = kDefaultAlignment;
  if (const GgufValue* a = Find("general.alignment")) {
    if (!IsUnsignedType(a->type)) {
      return p.Error("general.alignment has type " + std::string(GgufValueTypeName(a->type)) +
                     ", expected an unsigned integer");
    }
    if (a->u == 0 || (a->u & (a->u - 1)) != 0 || a->u > std::numeric_limits<size_t>::max()) {
      return p.Error("general.alignment " + std::to_string(a->u) +
                     " is not a nonzero power of two");
    }
    alignment_ = static_cast<size_t>(a->u);
  }

  // Tensor infos: shape, type and placement checks that need only this tensor.
  tensors_.resize(static_cast<size_t>(n_tensors));
  std::unordered_map<std::string_view, uint64_t> seen_names;
  seen_names.reserve(static_cast<size_t>(n_tensors));
  const GgufTensorInfo* first_unsupported = nullptr;
  for (uint64_t k = 0; k < n_tensors; ++k) {
    p.EnterItem(/*tensor=*/true, k);
    GgufTensorInfo& t = tensors_[k];
    SL_RETURN_IF_ERROR(p.ReadString("name", &t.name));
    p.SetItemName(t.name);
    const std::string tname = "tensor " + Quote(t.name);
    uint32_t n_dims = 0;
    SL_RETURN_IF_ERROR(p.Read("n_dims", &n_dims));
    if (n_dims < 1 || n_dims > kMaxDims) {
      return p.Error(tname + ": n_dims " + std::to_string(n_dims) + " is not in 1.." +
                     std::to_string(kMaxDims));
    }
    t.dims.resize(n_dims);
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t dim = 0;
      static constexpr const char* kDimField[kMaxDims] = {"dims[0]", "dims[1]", "dims[2]",
                                                          "dims[3]"};
      SL_RETURN_IF_ERROR(p.Read(kDimField[d], &dim));
      if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return p.Error(tname + ": dims[" + std::to_string(d) + "] = " + std::to_string(dim) +
                       " is negative as int64");
      }
      t.dims[d] = static_cast<int64_t>(dim);
    }
    uint32_t type_id = 0;
    SL_RETURN_IF_ERROR(p.Read("type", &type_id));
    SL_RETURN_IF_ERROR(p.Read("offset", &t.offset));

    auto [it, inserted] = seen_names.emplace(t.name, k);
    if (!inserted) {
      return p.Error("duplicate tensor name " + Quote(t.name) + " (tensors " +
                     std::to_string(it->second) + " and " + std::to_string(k) + ")");
    }
    std::optional<TensorTypeInfo> info = LookupTensorType(type_id);
    if (!info) return p.Error(tname + ": unknown tensor type " + std::to_string(type_id));
    t.type = static_cast<TensorType>(type_id);
    // Unsupported types are reported after all structural checks (a broken file says so first).
    if (!info->supported && !first_unsupported) first_unsupported = &t;

    int64_t n_elements = 1;
    for (int64_t d : t.dims) {
      if (__builtin_mul_overflow(n_elements, d, &n_elements)) {
        return p.Error(tname + ": dims " + DimsString(t.dims) +
                       " overflow the int64 element count");
      }
    }
    if (t.dims[0] % info->block_size != 0) {
      return p.Error(tname + ": row length " + std::to_string(t.dims[0]) +
                     " (dims[0]) is not a multiple of the " + std::string(info->name) +
                     " block size " + std::to_string(info->block_size));
    }
    // Bytes = blocks per row * block bytes * rows; any step may overflow with hostile dims.
    uint64_t bytes = static_cast<uint64_t>(t.dims[0] / info->block_size);
    bool overflow = __builtin_mul_overflow(bytes, static_cast<uint64_t>(info->type_size), &bytes);
    for (size_t d = 1; d < t.dims.size(); ++d)
      overflow |= __builtin_mul_overflow(bytes, static_cast<uint64_t>(t.dims[d]), &bytes);
    if (overflow || bytes > std::numeric_limits<size_t>::max()) {
      return p.Error(tname + ": byte size of dims " + DimsString(t.dims) + " overflows");
    }
    t.size_bytes = static_cast<size_t>(bytes);
    if (t.offset % alignment_ != 0) {
      return p.Error(tname + ": offset " + std::to_string(t.offset) +
                     " is not a multiple of the alignment " + std::to_string(alignment_));
    }
  }

  // Data section: starts at the first aligned position after the tensor infos.
  const size_t end_of_infos = p.pos();
  const size_t pad = (alignment_ - end_of_infos % alignment_) % alignment_;
  if (pad > size_ - end_of_infos) {
    if (n_tensors > 0) {
      return p.Error("data section (offset " + std::to_string(end_of_infos) + " + " +
                     std::to_string(pad) + " bytes of padding) starts past the end of the file (" +
                     std::to_string(size_) + " bytes)");
    }
    data_offset_ = size_;  // vocab-only files may stop before the padding
  } else {
    data_offset_ = end_of_infos + pad;
  }
  const uint64_t avail = size_ - data_offset_;
  for (GgufTensorInfo& t : tensors_) {
    if (t.offset > avail || t.size_bytes > avail - t.offset) {
      return p.Error("tensor " + Quote(t.name) + ": data [" + std::to_string(t.offset) + ", " +
                     std::to_string(t.offset) + " + " + std::to_string(t.size_bytes) +
                     ") extends past the end of the file (data section holds " +
                     std::to_string(avail) + " bytes)");
    }
    t.data = base_ + data_offset_ + t.offset;
  }

  // Overlap: sort by offset and compare neighbours. Empty tensors overlap nothing.
  std::vector<const GgufTensorInfo*> by_offset;
  by_offset.reserve(tensors_.size());
  for (const GgufTensorInfo& t : tensors_)
    if (t.size_bytes > 0) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
  for (size_t k = 1; k < by_offset.size(); ++k) {
    const GgufTensorInfo* a = by_offset[k - 1];
    const GgufTensorInfo* b = by_offset[k];
    if (a->offset + a->size_bytes > b->offset) {
      return p.Error("tensors " + Quote(a->name) + " [" + std::to_string(a->offset) + ", " +
                     std::to_string(a->offset + a->size_bytes) + ") and " + Quote(b->name) + " [" +
                     std::to_string(b->offset) + ", " + std::to_string(b->offset + b->size_bytes) +
                     ") overlap");
    }
  }

  if (first_unsupported) {
    return p.Error(StatusCode::kUnimplemented,
                   "tensor " + Quote(first_unsupported->name) + ": tensor type " +
                       std::string(TensorTypeName(first_unsupported->type)) +
                       " is not supported (supported: " + SupportedTensorTypeNames() + ")");
  }
  return Status::Ok();
}

const GgufValue* GgufFile::Find(std::string_view key) const {
  for (const GgufKV& kv : kvs_)
    if (kv.key == key) return &kv.value;
  return nullptr;
}

const GgufTensorInfo* GgufFile::FindTensor(std::string_view name) const {
  for (const GgufTensorInfo& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

namespace {

Status WrongType(const std::string& file, std::string_view key, const GgufValue& v,
                 std::string_view expected) {
  std::string got(GgufValueTypeName(v.type));
  if (v.type == GgufValueType::kArray) got += " of " + ElemTypeName(v);
  return InvalidArgument(file + ": key " + Quote(key) + " has type " + got + ", expected " +
                         std::string(expected));
}

// An integer value as int64, if it fits.
std::optional<int64_t> AsInt64(const GgufValue& v) {
  if (IsSignedType(v.type)) return v.i;
  if (IsUnsignedType(v.type) && v.u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return static_cast<int64_t>(v.u);
  return std::nullopt;
}

}  // namespace

#define SL_GGUF_FIND_OR_RETURN(v, key) \
  const GgufValue* v = Find(key);      \
  if (!v) return NotFound(name_ + ": key " + Quote(key) + " not found")

StatusOr<std::string> GgufFile::GetString(std::string_view key) const {
  SL_GGUF_FIND_OR_RETURN(v, key);
  if (v->type != GgufValueType::kString) return WrongType(name_, key, *v, "string");
  return std::string(v->str);
}

StatusOr<uint64_t> GgufFile::GetUint(std::string_view key) const {
  SL_GGUF_FIND_OR_RETURN(v, key);
  if (IsUnsignedType(v->type)) return v->u;
  if (IsSignedType(v->type)) {
    if (v->i < 0) {
      return InvalidArgument(name_ + ": key " + Quote(key) + " is negative (" +
                             std::to_string(v->i) + "), expected an unsigned value");
    }
    return static_cast<uint64_t>(v->i);
  }
  return WrongType(name_, key, *v, "an integer");
}

StatusOr<int64_t> GgufFile::GetInt(std::string_view key) const {
  SL_GGUF_FIND_OR_RETURN(v, key);
  if (!v->is_integer()) return WrongType(name_, key, *v, "an integer");
  std::optional<int64_t> i = AsInt64(*v);
  if (!i) {
    return InvalidArgument(name_ + ": key " + Quote(key) + " value " + std::to_string(v->u) +
                           " does not fit in int64");
  }
  return *i;
}

StatusOr<double> GgufFile::GetFloat(std::string_view key) const {
  SL_GGUF_FIND_OR_RETURN(v, key);
  if (v->type == GgufValueType::kFloat32 || v->type == GgufValueType::kFloat64) return v->f;
  if (IsUnsignedType(v->type)) return static_cast<double>(v->u);
  if (IsSignedType(v->type)) return static_cast<double>(v->i);
  return WrongType(name_, key, *v, "a float");
}

StatusOr<bool> GgufFile::GetBool(std::string_view key) const {
  SL_GGUF_FIND_OR_RETURN(v, key);
  if (v->type != GgufValueType::kBool) return WrongType(name_, key, *v, "bool");
  return v->u != 0;
}

StatusOr<std::vector<std::string_view>> GgufFile::GetStringArray(std::string_view key) const {
  SL_GGUF_FIND_OR_RETURN(v, key);
  if (v->type != GgufValueType::kArray || v->elem_type != GgufValueType::kString)
    return WrongType(name_, key, *v, "array of string");
  std::vector<std::string_view> out;
  out.reserve(v->array.size());
  for (const GgufValue& e : v->array) out.push_back(e.str);
  return out;
}

StatusOr<std::vector<float>> GgufFile::GetFloatArray(std::string_view key) const {
  SL_GGUF_FIND_OR_RETURN(v, key);
  if (v->type != GgufValueType::kArray ||
      (v->elem_type != GgufValueType::kFloat32 && v->elem_type != GgufValueType::kFloat64))
    return WrongType(name_, key, *v, "array of float32 or float64");
  std::vector<float> out;
  out.reserve(v->array.size());
  for (const GgufValue& e : v->array) out.push_back(static_cast<float>(e.f));
  return out;
}

StatusOr<std::vector<int64_t>> GgufFile::GetIntArray(std::string_view key) const {
  SL_GGUF_FIND_OR_RETURN(v, key);
  if (v->type != GgufValueType::kArray ||
      !(IsUnsignedType(v->elem_type) || IsSignedType(v->elem_type)))
    return WrongType(name_, key, *v, "array of integers");
  std::vector<int64_t> out;
  out.reserve(v->array.size());
  for (size_t k = 0; k < v->array.size(); ++k) {
    std::optional<int64_t> i = AsInt64(v->array[k]);
    if (!i) {
      return InvalidArgument(name_ + ": key " + Quote(key) + " element " + std::to_string(k) +
                             " value " + std::to_string(v->array[k].u) + " does not fit in int64");
    }
    out.push_back(*i);
  }
  return out;
}

#undef SL_GGUF_FIND_OR_RETURN

}  // namespace suanli
