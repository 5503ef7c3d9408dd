//go:build !(386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64 || wasm)

package nat

func (p packed) result() Result {
	return Result{Action: Action(p), State: State(p >> 8), Reason: Reason(p >> 16), Dir: Dir(p >> 24),
		Space: uint16(p >> 32), Translated: p>>48&1 != 0}
}

func (p packed) storeTo(r *Result) { *r = p.result() }
