/* Symbol export macro for the ptsim shared library. */
#ifndef PTSIM_EXPORT_H
#define PTSIM_EXPORT_H

#if defined(PTSIM_BUILDING_LIBRARY)
#define PTSIM_API __attribute__((visibility("default")))
#else
#define PTSIM_API
#endif

#endif
