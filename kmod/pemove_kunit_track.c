// SPDX-License-Identifier: GPL-2.0
/* pemove_track.c, compiled again into the KUnit module. */
#include "pemove_track.c"
