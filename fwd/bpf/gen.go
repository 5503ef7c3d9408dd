package bpf

// bpf2go compiles xdp.c into xdp_bpfel.o and writes xdp_bpfel.go, which embeds it. Both are
// committed, so building gannet needs no clang; `make generate` reproduces them and needs
// clang 14 or newer, llvm-strip and the libbpf headers (Debian/Ubuntu: clang llvm libbpf-dev).
//
// -target bpfel: one little-endian object serves every platform gannet runs on (amd64,
// arm64); a big-endian build would need a bpfeb object and is not supported. The target
// is the BPF instruction set only, so no arch-specific kernel headers are needed:
// include/asm/types.h stands in for the multiarch <asm/types.h> that <linux/types.h> pulls in.
//
// -type counters exports the per-CPU counter struct, so Stats copies its fields by name.

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -target bpfel -type counters -type flow_key -type flow -type fp_gen -cflags "-O2 -g -Wall -Werror -Iinclude" xdp xdp.c
