/* fixed_rate: the smallest useful FlexiNS congestion-control plug-in.
 *
 * It paces every QP at a fixed rate (parameter rate_bps) with a fixed window
 * (window_bytes). A CNP halves the rate (down to 1 Mb/s); 100 us after the
 * last CNP its timer puts the configured rate back. Nothing else matters to
 * it. Build: a shared object exporting flexins_cc_plugin_entry, e.g.
 *   cc -shared -fPIC -I include -o fixed_rate.so examples/plugins/fixed_rate.c
 * Use: flexins daemon --cc-plugin fixed_rate.so ... (wiring: a later step)
 * Walkthrough: docs/writing-a-cc-plugin.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flexins/cc_plugin.h"

#define RESTORE_AFTER_NS 100000u
#define FLOOR_BPS 1000000u

/* Per-QP state: create() makes one for each QP that uses the policy. */
struct fixed_rate {
  double rate_bps;     /* configured rate */
  double window_bytes; /* configured window; 0 = unlimited */
  uint64_t current_bps;
  uint64_t restore_at_ns; /* FLEXINS_CC_NO_TIMER when not cut */
};

static void* fr_create(void) {
  struct fixed_rate* s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->rate_bps = 1e9;
  s->window_bytes = 1 << 20;
  s->current_bps = (uint64_t)s->rate_bps;
  s->restore_at_ns = FLEXINS_CC_NO_TIMER;
  return s;
}

static void fr_destroy(void* state) { free(state); }

static void fr_on_cnp(void* state, uint64_t now_ns) {
  struct fixed_rate* s = state;
  s->current_bps = s->current_bps / 2 > FLOOR_BPS ? s->current_bps / 2 : FLOOR_BPS;
  s->restore_at_ns = now_ns + RESTORE_AFTER_NS;
}

/* The engine calls this once now_ns >= next_timer_ns(). */
static void fr_on_timer(void* state, uint64_t now_ns) {
  struct fixed_rate* s = state;
  if (now_ns < s->restore_at_ns) return;
  s->current_bps = (uint64_t)s->rate_bps;
  s->restore_at_ns = FLEXINS_CC_NO_TIMER;
}

static uint64_t fr_next_timer_ns(const void* state) {
  return ((const struct fixed_rate*)state)->restore_at_ns;
}

static uint64_t fr_rate_bps(const void* state) { return ((const struct fixed_rate*)state)->current_bps; }

static uint64_t fr_window_bytes(const void* state) {
  const struct fixed_rate* s = state;
  return s->window_bytes == 0 ? FLEXINS_CC_UNLIMITED_WINDOW : (uint64_t)s->window_bytes;
}

static int fr_set_param(void* state, const char* key, double value, char* err, size_t err_len) {
  struct fixed_rate* s = state;
  if (strcmp(key, "rate_bps") == 0) {
    if (!(value >= FLOOR_BPS && value <= 1e13)) {
      snprintf(err, err_len, "rate_bps=%g is out of range [1e6, 1e13]", value);
      return 1;
    }
    s->rate_bps = value;
    if (s->restore_at_ns == FLEXINS_CC_NO_TIMER) s->current_bps = (uint64_t)value;
    return 0;
  }
  if (strcmp(key, "window_bytes") == 0) {
    if (!(value >= 0 && value <= 1e12)) {
      snprintf(err, err_len, "window_bytes=%g is out of range [0, 1e12]", value);
      return 1;
    }
    s->window_bytes = value;
    return 0;
  }
  snprintf(err, err_len, "unknown parameter '%s' (known: rate_bps, window_bytes)", key);
  return 1;
}

static size_t fr_param_count(const void* state) {
  (void)state;
  return 2;
}

static int fr_get_param(const void* state, size_t index, struct flexins_cc_param* out) {
  const struct fixed_rate* s = state;
  switch (index) {
    case 0: *out = (struct flexins_cc_param){"rate_bps", "pacing rate when not cut by a CNP (bit/s)", s->rate_bps}; return 0;
    case 1: *out = (struct flexins_cc_param){"window_bytes", "most bytes in flight; 0 = unlimited", s->window_bytes}; return 0;
    default: return 1;
  }
}

static const struct flexins_cc_plugin fixed_rate_plugin = {
    .abi_version = FLEXINS_CC_ABI_VERSION,
    .name = "fixed_rate",
    .create = fr_create,
    .destroy = fr_destroy,
    .on_cnp = fr_on_cnp,
    .on_timer = fr_on_timer,
    .next_timer_ns = fr_next_timer_ns,
    .rate_bps = fr_rate_bps,
    .window_bytes = fr_window_bytes,
    .set_param = fr_set_param,
    .param_count = fr_param_count,
    .get_param = fr_get_param,
    /* on_send, on_ack, on_loss, on_timeout: NULL, this policy ignores them */
};

const struct flexins_cc_plugin* flexins_cc_plugin_entry(void) { return &fixed_rate_plugin; }
