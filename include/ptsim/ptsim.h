/*
 * ptsim: simulate the Linux kernel's page tables, TLBs and TLB-shootdown IPIs
 * on an SMP machine, and run the kernel's algorithms on it.
 *
 * Umbrella header: include this one.
 */
#ifndef PTSIM_PTSIM_H
#define PTSIM_PTSIM_H

#include "ptsim/version.h"
#include "ptsim/errors.h"
#include "ptsim/config.h"
#include "ptsim/machine.h"
#include "ptsim/stats.h"
#include "ptsim/trace.h"
#include "ptsim/debug.h"

#endif
