// Command go-sumdb measures the operations that BENCHMARKS.md compares with taglog-proofs,
// using Go's golang.org/x/mod/sumdb/tlog and note packages (Debian golang-golang-x-mod-dev).
//
// Run with scripts/bench-go.sh; it prints one line per operation: "<name> <ns/op>".
package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"math/rand"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type memHashes []tlog.Hash

func (m memHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		out[i] = m[x]
	}
	return out, nil
}

const leaves = 1_000_000

func main() {
	var hashes memHashes
	for i := int64(0); i < leaves; i++ {
		h, err := tlog.StoredHashes(i, []byte(fmt.Sprintf("entry %d", i)), hashes)
		if err != nil {
			panic(err)
		}
		hashes = append(hashes, h...)
	}
	root, err := tlog.TreeHash(leaves, hashes)
	if err != nil {
		panic(err)
	}
	report := func(name string, f func(b *testing.B)) {
		r := testing.Benchmark(f)
		fmt.Printf("%s %.1f\n", name, float64(r.T.Nanoseconds())/float64(r.N))
	}

	report("sha256_node_hash", func(b *testing.B) {
		var buf [65]byte
		buf[0] = 1
		for i := 0; i < b.N; i++ {
			s := sha256.Sum256(buf[:])
			buf[1] = s[0]
		}
	})
	report("append", func(b *testing.B) {
		local := append(memHashes(nil), hashes...)
		n := int64(leaves)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			h, err := tlog.StoredHashes(n, []byte("appended"), local)
			if err != nil {
				panic(err)
			}
			local = append(local, h...)
			n++
		}
	})
	rng := rand.New(rand.NewSource(1))
	report("inclusion_prove", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := tlog.ProveRecord(leaves, rng.Int63n(leaves), hashes); err != nil {
				panic(err)
			}
		}
	})
	idx := int64(123456)
	proof, _ := tlog.ProveRecord(leaves, idx, hashes)
	leaf := tlog.RecordHash([]byte(fmt.Sprintf("entry %d", idx)))
	report("inclusion_verify", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := tlog.CheckRecord(proof, leaves, root, idx, leaf); err != nil {
				panic(err)
			}
		}
	})
	report("consistency_prove", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := tlog.ProveTree(leaves, 1+rng.Int63n(leaves-1), hashes); err != nil {
				panic(err)
			}
		}
	})
	old := int64(654321)
	oldRoot, _ := tlog.TreeHash(old, hashes)
	cproof, _ := tlog.ProveTree(leaves, old, hashes)
	report("consistency_verify", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := tlog.CheckTree(cproof, leaves, root, old, oldRoot); err != nil {
				panic(err)
			}
		}
	})

	seed := sha256.Sum256([]byte("bench log key"))
	priv := ed25519.NewKeyFromSeed(seed[:])
	skey, vkey, err := note.GenerateKey(zeroReader{}, "log.example.org/taglog")
	if err != nil {
		panic(err)
	}
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	text := tlog.FormatTree(tlog.Tree{N: leaves, Hash: root})
	text = append([]byte("log.example.org/taglog\n"), text[len("go.sum database tree\n"):]...)
	report("checkpoint_sign", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := note.Sign(&note.Note{Text: string(text)}, signer); err != nil {
				panic(err)
			}
		}
	})
	signed, _ := note.Sign(&note.Note{Text: string(text)}, signer)
	verifiers := note.VerifierList(verifier)
	report("checkpoint_open_verify", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := note.Open(signed, verifiers); err != nil {
				panic(err)
			}
		}
	})
	msg := make([]byte, 100)
	sig := ed25519.Sign(priv, msg)
	report("ed25519_verify", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if !ed25519.Verify(priv.Public().(ed25519.PublicKey), msg, sig) {
				panic("verify")
			}
		}
	})
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 7
	}
	return len(p), nil
}
