/* FlexiNS congestion-control plug-in ABI.
 *
 * A plug-in is a shared object (C, or C++ with extern "C") that exports
 *
 *     const struct flexins_cc_plugin* flexins_cc_plugin_entry(void);
 *
 * returning a static description whose abi_version is FLEXINS_CC_ABI_VERSION.
 * The engine loads it with `dlopen`, refuses any other ABI version, and then
 * uses it like a built-in policy: one state object per QP (create/destroy),
 * events in, answers out. See docs/writing-a-cc-plugin.md.
 *
 * Units: time in nanoseconds of the engine's monotonic clock (passed in;
 * never read a clock yourself), rates in bit/s, sizes in bytes.
 * Threading: every call for one state object comes from one engine worker
 * thread, which also runs the data path: calls must not block.
 */
#ifndef FLEXINS_CC_PLUGIN_H
#define FLEXINS_CC_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change to struct flexins_cc_plugin. */
#define FLEXINS_CC_ABI_VERSION 1u

/* rate_bps(): do not pace. */
#define FLEXINS_CC_UNPACED UINT64_MAX
/* window_bytes(): no window limit. */
#define FLEXINS_CC_UNLIMITED_WINDOW UINT64_MAX
/* next_timer_ns(): no timer armed. */
#define FLEXINS_CC_NO_TIMER UINT64_MAX

/* The symbol the loader looks up. */
#define FLEXINS_CC_PLUGIN_ENTRY "flexins_cc_plugin_entry"

struct flexins_cc_param {
  const char* name; /* static string owned by the plug-in */
  const char* help; /* static string owned by the plug-in, may be NULL */
  double value;
};

struct flexins_cc_plugin {
  /* Must be first and equal FLEXINS_CC_ABI_VERSION: read before anything else. */
  uint32_t abi_version;
  /* Policy name in the registry: letters, digits, '_', no ',' or '='. */
  const char* name;

  /* Required. create returns NULL on failure (out of memory). */
  void* (*create)(void);
  void (*destroy)(void* state);

  /* Events; any may be NULL (ignored). */
  void (*on_send)(void* state, uint64_t now_ns, uint32_t bytes, uint32_t psn);
  void (*on_ack)(void* state, uint64_t now_ns, uint64_t acked_bytes, uint64_t rtt_ns /* 0: no sample */,
                 int ecn_echo);
  void (*on_cnp)(void* state, uint64_t now_ns);
  void (*on_loss)(void* state, uint64_t now_ns);
  void (*on_timeout)(void* state, uint64_t now_ns);
  void (*on_timer)(void* state, uint64_t now_ns);
  /* NULL means the plug-in never uses timers. */
  uint64_t (*next_timer_ns)(const void* state);

  /* Answers. Required. */
  uint64_t (*rate_bps)(const void* state);
  uint64_t (*window_bytes)(const void* state);

  /* Parameters; NULL means none. set_param returns 0 on success, or writes a
   * NUL-terminated message of at most err_len bytes into err and returns
   * non-zero. get_param fills *out for index < param_count and returns 0. */
  int (*set_param)(void* state, const char* key, double value, char* err, size_t err_len);
  size_t (*param_count)(const void* state);
  int (*get_param)(const void* state, size_t index, struct flexins_cc_param* out);
};

typedef const struct flexins_cc_plugin* (*flexins_cc_plugin_entry_fn)(void);

const struct flexins_cc_plugin* flexins_cc_plugin_entry(void);

#ifdef __cplusplus
}
#endif

#endif /* FLEXINS_CC_PLUGIN_H */
