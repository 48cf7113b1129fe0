#ifndef CX264_SHIM_H
#define CX264_SHIM_H
// libx264 for Swift: x264_encoder_open is a macro naming the versioned symbol.
#include <stdint.h>
#include <x264.h>

static inline x264_t *cx264_encoder_open(x264_param_t *p) { return x264_encoder_open(p); }

#endif
