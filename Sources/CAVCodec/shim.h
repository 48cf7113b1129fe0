#ifndef CAVCODEC_SHIM_H
#define CAVCODEC_SHIM_H
// libavcodec, libswscale and libswresample for Swift: the error codes and "no timestamp" are macros Swift cannot import.
#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <libswscale/swscale.h>
#include <libswresample/swresample.h>

static inline int cav_error_again(void) { return AVERROR(EAGAIN); }
static inline int cav_error_eof(void) { return AVERROR_EOF; }
static inline int64_t cav_nopts(void) { return AV_NOPTS_VALUE; }

#endif
