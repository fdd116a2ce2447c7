/* A plug-in that claims a future ABI version: the loader must refuse it
 * before touching anything but abi_version. */
#include <stddef.h>

#include "flexins/cc_plugin.h"

static const struct flexins_cc_plugin wrong_abi_plugin = {
    .abi_version = FLEXINS_CC_ABI_VERSION + 1,
    .name = "wrong_abi",
};

const struct flexins_cc_plugin* flexins_cc_plugin_entry(void) { return &wrong_abi_plugin; }
