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
  // Only the bound matrices: a pipeline stage touches its own layers, not the whole file (which
  // may even be a sparse cache holding just those layers).
  uint64_t total = 0;
  w_.ForEachMatrix([&](const kernels::Matrix& m) { total += m.row_bytes * m.rows; });
  if (total == 0) return 0;
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  ProgressBar bar("loading " + path_, total);
  volatile uint8_t sink = 0;
  uint8_t acc = 0;
  uint64_t done = 0, shown = 0;
  w_.ForEachMatrix([&](const kernels::Matrix& m) {
    const uint8_t* p = static_cast<const uint8_t*>(m.data);
    const size_t bytes = m.row_bytes * static_cast<size_t>(m.rows);
    for (size_t off = 0; off < bytes; off += page) acc ^= p[off];
    done += bytes;
    if (done - shown >= (64u << 20)) {
      bar.Update(done);
      shown = done;
    }
  });
  sink = acc;
  (void)sink;
  bar.Finish();
  return total;
}

}  // namespace suanli
