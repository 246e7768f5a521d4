// SPDX-License-Identifier: GPL-2.0
/* pemove_extent.c, compiled again into the KUnit module. */
#include "pemove_extent.c"
