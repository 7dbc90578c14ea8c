/* Arch-neutral helpers of the back-end contract (see arch.h). */
#include "arch/arch.h"
