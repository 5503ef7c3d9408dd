/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Stand-ins for the multiarch <asm/...> headers (/usr/include/<triple>/asm/), which clang
 * does not search when it targets BPF. <asm/types.h> is this one line on every Linux
 * architecture, so xdp.c compiles the same on any build host.
 */
#include <asm-generic/types.h>
