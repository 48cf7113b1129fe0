#ifndef CX265_SHIM_H
#define CX265_SHIM_H
// libx265 for Swift: x265_encoder_open is a macro naming the versioned symbol.
#include <stdint.h>
#include <x265.h>

static inline x265_encoder *cx265_encoder_open(x265_param *p) { return x265_encoder_open(p); }

#endif
