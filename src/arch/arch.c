/* Arch-neutral helpers of the back-end contract (see arch.h). */
#include "arch/arch.h"

#include <stdio.h>

int arch_ops_validate(const struct ptsim_arch_ops *ops, char *err, size_t errlen)
{
	const char *missing = NULL;

	if (!ops) {
		snprintf(err, errlen, "no arch ops table");
		return -EINVAL;
	}
	if (ops->version != PTSIM_ARCH_OPS_VERSION) {
		snprintf(err, errlen, "arch ops '%s': contract version %u, expected %u", ops->name ? ops->name : "?",
			 ops->version, PTSIM_ARCH_OPS_VERSION);
		return -EINVAL;
	}
#define REQUIRE(f)                     \
	if (!missing && !ops->f)       \
		missing = #f;
	REQUIRE(setup)
	REQUIRE(teardown)
	REQUIRE(init_new_context)
	REQUIRE(destroy_context)
	REQUIRE(switch_mm)
	REQUIRE(enter_lazy_tlb)
	REQUIRE(tlb_flush)
	REQUIRE(flush_tlb_mm)
	REQUIRE(flush_tlb_range)
	REQUIRE(flush_tlb_page)
	REQUIRE(flush_tlb_all)
#undef REQUIRE
	if (missing) {
		snprintf(err, errlen, "arch ops '%s': required op %s is missing", ops->name ? ops->name : "?", missing);
		return -EINVAL;
	}
	return 0;
}
