#include "model/model.h"

#include <unistd.h>

#include "base/progress.h"

namespace suanli {

StatusOr<std::unique_ptr<Model>> Model::Load(const std::string& path, const BindOptions& opts,
                                             LoadMode mode) {
  auto m = std::unique_ptr<Model>(new Model());
  m->path_ = path;
  SL_ASSIGN_OR_RETURN(m->file_, GgufFile::Open(path, mode));
  auto hp = ReadHParams(*m->file_);
  if (!hp.ok()) return hp.status().WithContext(path);
  m->hp_ = *hp;
  auto w = BindWeights(*m->file_, m->hp_, opts);
  if (!w.ok()) return w.status().WithContext(path);
  m->w_ = std::move(*w);
  return m;
}

uint64_t Model::Prefault() const {
  const uint8_t* base = file_->file_data();
  size_t begin = file_->data_offset(), end = file_->file_size();
  if (end <= begin) return 0;
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  ProgressBar bar("loading " + path_, end - begin);
  volatile uint8_t sink = 0;
  uint8_t acc = 0;
  for (size_t off = begin; off < end; off += page) {
    acc ^= base[off];
    if (((off - begin) & ((64u << 20) - 1)) < page) bar.Update(off - begin);
  }
  sink = acc;
  (void)sink;
  bar.Finish();
  return end - begin;
}

}  // namespace suanli
