// Baseline NEON (ARMv8.0) variant; see neon_impl.inc.
#define SL_NEON_NS base
#define SL_NEON_DOTPROD 0
#define SL_NEON_NAME "neon"
#include "kernels/arm/neon_impl.inc"

namespace suanli::kernels::neon {
const Variant& GetVariant() { return base::Get(); }
}  // namespace suanli::kernels::neon
