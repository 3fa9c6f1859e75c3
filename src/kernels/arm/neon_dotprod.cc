// NEON + dot product (ARMv8.2 SDOT) variant; compiled with -march=armv8.2-a+dotprod and used only
// when the CPU reports HWCAP_ASIMDDP. See neon_impl.inc.
#define SL_NEON_NS dotprod
#define SL_NEON_DOTPROD 1
#define SL_NEON_NAME "neon-dotprod"
#include "kernels/arm/neon_impl.inc"

namespace suanli::kernels::neon {
const Variant& GetDotprodVariant() { return dotprod::Get(); }
}  // namespace suanli::kernels::neon
