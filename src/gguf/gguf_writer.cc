#include "gguf/gguf_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <utility>

namespace suanli {

static_assert(std::endian::native == std::endian::little, "the GGUF writer assumes little-endian");

namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF"
constexpr uint32_t kGgufVersion = 3;
constexpr uint64_t kDefaultAlignment = 32;
constexpr uint64_t kMaxAlignment = uint64_t{1} << 20;
constexpr size_t kMaxDims = 4;
constexpr size_t kWriteChunk = size_t{64} << 20;  // progress granularity for big tensors

template <typename T>
void Put(std::string* s, T v) {
  s->append(reinterpret_cast<const char*>(&v), sizeof(v));
}

void PutString(std::string* s, std::string_view v) {
  Put<uint64_t>(s, v.size());
  s->append(v);
}

std::string Tagged(GgufValueType t) {
  std::string s;
  Put<uint32_t>(&s, static_cast<uint32_t>(t));
  return s;
}

// Appends the payload of `v` as type `t` (no type tag). Arrays carry their own element type.
void EncodePayload(const GgufValue& v, GgufValueType t, std::string* out) {
  switch (t) {
    case GgufValueType::kUint8:
      Put<uint8_t>(out, static_cast<uint8_t>(v.u));
      break;
    case GgufValueType::kInt8:
      Put<int8_t>(out, static_cast<int8_t>(v.i));
      break;
    case GgufValueType::kUint16:
      Put<uint16_t>(out, static_cast<uint16_t>(v.u));
      break;
    case GgufValueType::kInt16:
      Put<int16_t>(out, static_cast<int16_t>(v.i));
      break;
    case GgufValueType::kUint32:
      Put<uint32_t>(out, static_cast<uint32_t>(v.u));
      break;
    case GgufValueType::kInt32:
      Put<int32_t>(out, static_cast<int32_t>(v.i));
      break;
    case GgufValueType::kUint64:
      Put<uint64_t>(out, v.u);
      break;
    case GgufValueType::kInt64:
      Put<int64_t>(out, v.i);
      break;
    case GgufValueType::kFloat32:
      Put<float>(out, static_cast<float>(v.f));
      break;
    case GgufValueType::kFloat64:
      Put<double>(out, v.f);
      break;
    case GgufValueType::kBool:
      Put<uint8_t>(out, v.u ? 1 : 0);
      break;
    case GgufValueType::kString:
      PutString(out, v.str);
      break;
    case GgufValueType::kArray:
      Put<uint32_t>(out, static_cast<uint32_t>(v.elem_type));
      Put<uint64_t>(out, v.array.size());
      for (const GgufValue& e : v.array) EncodePayload(e, v.elem_type, out);
      break;
  }
}

size_t PadTo(uint64_t n, uint64_t align) {
  return static_cast<size_t>((align - n % align) % align);
}

// Validates a tensor's shape for `type` and returns its byte size.
StatusOr<size_t> TensorBytes(std::string_view name, TensorType type,
                             const std::vector<int64_t>& dims) {
  const std::string tname = "tensor '" + std::string(name) + "'";
  std::optional<TensorTypeInfo> info = LookupTensorType(static_cast<uint32_t>(type));
  if (!info) {
    return InvalidArgument(tname + ": unknown tensor type " +
                           std::to_string(static_cast<uint32_t>(type)));
  }
  if (dims.empty() || dims.size() > kMaxDims)
    return InvalidArgument(tname + ": n_dims " + std::to_string(dims.size()) + " is not in 1..4");
  int64_t n = 1;
  for (size_t d = 0; d < dims.size(); ++d) {
    if (dims[d] < 0)
      return InvalidArgument(tname + ": dims[" + std::to_string(d) + "] is negative");
    if (__builtin_mul_overflow(n, dims[d], &n))
      return InvalidArgument(tname + ": element count overflows int64");
  }
  if (dims[0] % info->block_size != 0) {
    return InvalidArgument(tname + ": row length " + std::to_string(dims[0]) +
                           " is not a multiple of the " + std::string(info->name) + " block size " +
                           std::to_string(info->block_size));
  }
  uint64_t bytes = static_cast<uint64_t>(dims[0] / info->block_size) * info->type_size;
  for (size_t d = 1; d < dims.size(); ++d) {
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(dims[d]), &bytes))
      return InvalidArgument(tname + ": byte size overflows");
  }
  return static_cast<size_t>(bytes);
}

// A temp file beside the target: closed, and removed unless committed, on every early return.
class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  Status Create() {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) return IoError(path_ + ": cannot create: " + std::strerror(errno));
    return Status::Ok();
  }
  Status Write(const uint8_t* p, size_t n) {
    while (n > 0) {
      ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        return IoError(path_ + ": write failed: " + std::strerror(errno));
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
    return Status::Ok();
  }
  // Flushes, closes and renames over `final_path`.
  Status Commit(const std::string& final_path) {
    if (::fdatasync(fd_) != 0) return IoError(path_ + ": fsync failed: " + std::strerror(errno));
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return IoError(path_ + ": close failed: " + std::strerror(errno));
    if (::rename(path_.c_str(), final_path.c_str()) != 0)
      return IoError(final_path + ": rename failed: " + std::strerror(errno));
    committed_ = true;
    return Status::Ok();
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace

void GgufWriter::PutKv(std::string_view key, std::string encoded) {
  for (Kv& kv : kvs_) {
    if (kv.key == key) {  // a later Set replaces the value but keeps the key's position
      kv.encoded = std::move(encoded);
      return;
    }
  }
  kvs_.push_back(Kv{std::string(key), std::move(encoded)});
}

void GgufWriter::SetString(std::string_view key, std::string_view value) {
  std::string s = Tagged(GgufValueType::kString);
  PutString(&s, value);
  PutKv(key, std::move(s));
}

void GgufWriter::SetUint32(std::string_view key, uint32_t value) {
  std::string s = Tagged(GgufValueType::kUint32);
  Put(&s, value);
  PutKv(key, std::move(s));
}

void GgufWriter::SetInt32(std::string_view key, int32_t value) {
  std::string s = Tagged(GgufValueType::kInt32);
  Put(&s, value);
  PutKv(key, std::move(s));
}

void GgufWriter::SetUint64(std::string_view key, uint64_t value) {
  std::string s = Tagged(GgufValueType::kUint64);
  Put(&s, value);
  PutKv(key, std::move(s));
}

void GgufWriter::SetFloat32(std::string_view key, float value) {
  std::string s = Tagged(GgufValueType::kFloat32);
  Put(&s, value);
  PutKv(key, std::move(s));
}

void GgufWriter::SetBool(std::string_view key, bool value) {
  std::string s = Tagged(GgufValueType::kBool);
  Put<uint8_t>(&s, value ? 1 : 0);
  PutKv(key, std::move(s));
}

void GgufWriter::SetStringArray(std::string_view key, const std::vector<std::string>& values) {
  std::string s = Tagged(GgufValueType::kArray);
  Put<uint32_t>(&s, static_cast<uint32_t>(GgufValueType::kString));
  Put<uint64_t>(&s, values.size());
  for (const std::string& v : values) PutString(&s, v);
  PutKv(key, std::move(s));
}

void GgufWriter::SetFloat32Array(std::string_view key, const std::vector<float>& values) {
  std::string s = Tagged(GgufValueType::kArray);
  Put<uint32_t>(&s, static_cast<uint32_t>(GgufValueType::kFloat32));
  Put<uint64_t>(&s, values.size());
  s.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  PutKv(key, std::move(s));
}

void GgufWriter::SetInt32Array(std::string_view key, const std::vector<int32_t>& values) {
  std::string s = Tagged(GgufValueType::kArray);
  Put<uint32_t>(&s, static_cast<uint32_t>(GgufValueType::kInt32));
  Put<uint64_t>(&s, values.size());
  s.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(int32_t));
  PutKv(key, std::move(s));
}

void GgufWriter::SetValue(std::string_view key, const GgufValue& value) {
  std::string s = Tagged(value.type);
  EncodePayload(value, value.type, &s);
  PutKv(key, std::move(s));
}

Status GgufWriter::AddTensor(std::string_view name, TensorType type, std::vector<int64_t> dims,
                             TensorFiller fill) {
  for (const Tensor& t : tensors_) {
    if (t.name == name)
      return InvalidArgument("tensor '" + std::string(name) + "': duplicate tensor name");
  }
  SL_ASSIGN_OR_RETURN(size_t size, TensorBytes(name, type, dims));
  tensors_.push_back(Tensor{std::string(name), type, std::move(dims), size, std::move(fill)});
  return Status::Ok();
}

Status GgufWriter::AddTensorBytes(std::string_view name, TensorType type, std::vector<int64_t> dims,
                                  const void* data, size_t size) {
  SL_ASSIGN_OR_RETURN(size_t expected, TensorBytes(name, type, dims));
  if (size != expected) {
    return InvalidArgument("tensor '" + std::string(name) + "': got " + std::to_string(size) +
                           " bytes, its type and dims need " + std::to_string(expected));
  }
  // The filler must be copyable (std::function), so the bytes are shared, not duplicated.
  auto bytes = std::make_shared<std::string>(static_cast<const char*>(data), size);
  return AddTensor(name, type, std::move(dims), [bytes](uint8_t* dst, size_t n) {
    // A tensor with a zero dimension has no bytes (and dst may then be null).
    if (n > 0) std::memcpy(dst, bytes->data(), std::min(n, bytes->size()));
  });
}

namespace {

struct KvView {
  std::string_view key;
  std::string_view encoded;
};
struct TensorView {
  std::string_view name;
  TensorType type;
  const std::vector<int64_t>* dims;
  size_t size;
  const GgufWriter::TensorFiller* fill;
};

// Everything before the tensor data, already padded to the alignment.
struct Layout {
  std::string header;
  uint64_t alignment = kDefaultAlignment;
  uint64_t total = 0;  // file size
};

// Reads an unsigned integer back out of an encoded value (for general.alignment).
std::optional<uint64_t> DecodeUnsigned(std::string_view encoded) {
  uint32_t type;
  if (encoded.size() < sizeof(type)) return std::nullopt;
  std::memcpy(&type, encoded.data(), sizeof(type));
  encoded.remove_prefix(sizeof(type));
  auto get = [&](auto v) -> std::optional<uint64_t> {
    if (encoded.size() < sizeof(v)) return std::nullopt;
    std::memcpy(&v, encoded.data(), sizeof(v));
    return static_cast<uint64_t>(v);
  };
  switch (static_cast<GgufValueType>(type)) {
    case GgufValueType::kUint8:
      return get(uint8_t{});
    case GgufValueType::kUint16:
      return get(uint16_t{});
    case GgufValueType::kUint32:
      return get(uint32_t{});
    case GgufValueType::kUint64:
      return get(uint64_t{});
    default:
      return std::nullopt;
  }
}

StatusOr<Layout> BuildLayout(const std::vector<KvView>& kvs,
                             const std::vector<TensorView>& tensors) {
  Layout l;
  for (const KvView& kv : kvs) {
    if (kv.key != "general.alignment") continue;
    std::optional<uint64_t> a = DecodeUnsigned(kv.encoded);
    if (!a) return InvalidArgument("general.alignment must be an unsigned integer");
    if (*a == 0 || (*a & (*a - 1)) != 0)
      return InvalidArgument("general.alignment " + std::to_string(*a) +
                             " is not a nonzero power of two");
    // Every tensor is padded to it: a huge value would write gigabytes of zeros.
    if (*a > kMaxAlignment)
      return InvalidArgument("general.alignment " + std::to_string(*a) + " is larger than " +
                             std::to_string(kMaxAlignment));
    l.alignment = *a;
  }
  std::string& h = l.header;
  Put<uint32_t>(&h, kGgufMagic);
  Put<uint32_t>(&h, kGgufVersion);
  Put<uint64_t>(&h, tensors.size());
  Put<uint64_t>(&h, kvs.size());
  for (const KvView& kv : kvs) {
    PutString(&h, kv.key);
    h.append(kv.encoded);
  }
  uint64_t offset = 0;  // relative to the data section; each tensor starts aligned
  for (const TensorView& t : tensors) {
    PutString(&h, t.name);
    Put<uint32_t>(&h, static_cast<uint32_t>(t.dims->size()));
    for (int64_t d : *t.dims) Put<uint64_t>(&h, static_cast<uint64_t>(d));
    Put<uint32_t>(&h, static_cast<uint32_t>(t.type));
    Put<uint64_t>(&h, offset);
    offset += t.size + PadTo(t.size, l.alignment);
  }
  h.append(PadTo(h.size(), l.alignment), '\0');
  l.total = h.size() + offset;
  return l;
}

// Streams the header, then each tensor (filled into one reusable buffer) and its padding.
Status Emit(const Layout& l, const std::vector<TensorView>& tensors,
            const std::function<Status(const uint8_t*, size_t)>& sink) {
  SL_RETURN_IF_ERROR(sink(reinterpret_cast<const uint8_t*>(l.header.data()), l.header.size()));
  std::vector<uint8_t> buf;
  const std::vector<uint8_t> zeros(static_cast<size_t>(l.alignment));
  for (const TensorView& t : tensors) {
    buf.resize(t.size);
    if (*t.fill) {
      (*t.fill)(buf.data(), t.size);
    } else {
      std::fill(buf.begin(), buf.end(), 0);  // no filler: zeros
    }
    SL_RETURN_IF_ERROR(sink(buf.data(), buf.size()));
    for (size_t pad = PadTo(t.size, l.alignment); pad > 0;) {
      size_t n = std::min(pad, zeros.size());
      SL_RETURN_IF_ERROR(sink(zeros.data(), n));
      pad -= n;
    }
  }
  return Status::Ok();
}

}  // namespace

Status GgufWriter::WriteFile(const std::string& path,
                             const std::function<void(uint64_t, uint64_t)>& progress) const {
  std::vector<KvView> kvs;
  for (const Kv& kv : kvs_) kvs.push_back({kv.key, kv.encoded});
  std::vector<TensorView> tensors;
  for (const Tensor& t : tensors_) tensors.push_back({t.name, t.type, &t.dims, t.size, &t.fill});
  auto layout = BuildLayout(kvs, tensors);
  if (!layout.ok()) return layout.status().WithContext(path);

  TempFile tmp(path + ".tmp." + std::to_string(::getpid()));
  SL_RETURN_IF_ERROR(tmp.Create());
  uint64_t written = 0;
  const uint64_t total = layout->total;
  if (progress) progress(0, total);
  SL_RETURN_IF_ERROR(Emit(*layout, tensors, [&](const uint8_t* p, size_t n) -> Status {
    // Chunked so progress moves during a multi-gigabyte tensor.
    while (n > 0) {
      size_t c = std::min(n, kWriteChunk);
      SL_RETURN_IF_ERROR(tmp.Write(p, c));
      p += c;
      n -= c;
      written += c;
      if (progress) progress(written, total);
    }
    return Status::Ok();
  }));
  return tmp.Commit(path);
}

StatusOr<std::string> GgufWriter::WriteToString() const {
  std::vector<KvView> kvs;
  for (const Kv& kv : kvs_) kvs.push_back({kv.key, kv.encoded});
  std::vector<TensorView> tensors;
  for (const Tensor& t : tensors_) tensors.push_back({t.name, t.type, &t.dims, t.size, &t.fill});
  SL_ASSIGN_OR_RETURN(Layout layout, BuildLayout(kvs, tensors));
  std::string out;
  out.reserve(static_cast<size_t>(layout.total));
  SL_RETURN_IF_ERROR(Emit(layout, tensors, [&](const uint8_t* p, size_t n) {
    out.append(reinterpret_cast<const char*>(p), n);
    return Status::Ok();
  }));
  return out;
}

}  // namespace suanli
