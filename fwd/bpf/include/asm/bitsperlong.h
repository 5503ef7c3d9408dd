/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* See types.h. BPF is a 64-bit target: longs are 64 bits, as the generic header derives. */
#include <asm-generic/bitsperlong.h>
