#!/usr/bin/env python3
"""Writes the small committed seed corpora under seeds/<target>/ from proofs/tests/vectors/.

Run from anywhere: python3 proofs/fuzz/make-seeds.py. Deterministic: the same vectors give
the same files (named by the SHA-1 of their content, as libFuzzer names corpus files).
"""
import base64
import hashlib
import json
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
VEC = os.path.join(HERE, "..", "tests", "vectors")
OUT = os.path.join(HERE, "seeds")


def read(*path):
    with open(os.path.join(VEC, *path), "rb") as f:
        return f.read()


def load(*path):
    return json.loads(read(*path))


seeds = {}


def add(target, data):
    if isinstance(data, str):
        data = data.encode()
    seeds.setdefault(target, set()).add(data)


keys = load("taglog", "log-small", "keys.json")
binding = load("taglog", "binding.json")
signed_note = load("signed-note.json")
checkpoints = [read("taglog", "log-small", "checkpoint")] + [
    read("taglog", "log-small", "checkpoints", n) for n in ("12", "21", "31")
]
lookups = [read("taglog", "log-small", "lookup", n + ".json") for n in ("bound", "withdrawn", "unbound")]

# Signed notes: checkpoints, bindings, Go and C2SP notes.
go = signed_note["go_note"]
notes = checkpoints + [
    go["signed_note"].encode(),
    go["signed_note_two_sigs"].encode(),
    signed_note["c2sp_signed_note_example"]["signed_note"].encode(),
    signed_note["c2sp_checkpoint_example_unverifiable"]["checkpoint"].encode(),
]
for n in notes:
    add("note", n)
for b in binding["bindings"][:12]:
    add("note", b["note"])

# Key strings.
for k in [keys["log"], keys["witness"], *keys["publishers"], binding["publisher"]["private_key"],
          binding["publisher"]["vkey"], binding["other_key"]["vkey"], go["signer_key"],
          go["verifier_key"], go["other_verifier_key"], keys["origin"], "witness.example"]:
    add("keys", k)

# Checkpoints: signed notes and bare texts.
for c in checkpoints:
    add("checkpoint", c)
    add("checkpoint", c.split(b"\n\n")[0] + b"\n")
add("checkpoint", signed_note["go_tlog_tree_note"]["text"])
add("checkpoint", signed_note["c2sp_checkpoint_example_unverifiable"]["checkpoint"])

# Cosignatures: each signature line, then the checkpoint text it signs.
for c in checkpoints:
    text, sigs = c.split(b"\n\n")
    for line in sigs.strip(b"\n").split(b"\n"):
        add("cosignature", line + b"\n" + text + b"\n")
        raw = base64.b64decode(line.split(b" ")[-1])
        add("cosignature", raw[4:])  # raw signature bytes (the second path of the target)

# Bindings and leaves.
for b in binding["bindings"]:
    add("binding", b["note"])
    if b["valid"]:
        add("binding", b["note"].split("\n\n")[0] + "\n")  # the statement text
        for line in b["note"].split("\n"):
            if line.startswith("digest "):
                add("binding", line[len("digest "):])
for group in ("bindings", "state_leaves", "publisher_leaves"):
    for leaf in binding[group]:
        add("leaf", leaf["note"] if group == "bindings" else leaf["entry"])

# Policy: the shape the policy tests use, built from the vector keys.
add("policy",
    "# taglog policy\nlog {} https://log.example.org/\nwitness w {}\ngroup g any w\nquorum g\n"
    "publisher registry.example/acme {}\npublisher docker.io/acme {} log.example.org/taglog\n"
    "remap mirror.local/acme registry.example/acme\nmax-age 2h\n"
    "pin registry.example/acme/a:1 sha256:{}\nfloor log.example.org/taglog 3\n"
    "insecure-registry localhost:5000\n".format(
        keys["log"], keys["witness"], keys["publishers"][0], keys["publishers"][1], "0" * 64))
add("policy", "log {}\nwitness a {}\nquorum none\n".format(keys["log"], keys["witness"]))
add("policy", "log {}\nwitness a {}\nwitness b {}\ngroup g 2 a b\ngroup h all g a\nquorum h\n".format(
    keys["log"], keys["witness"], "witness.example+bf0ee454+BH9bCzhL+O2jNIFApXuf+SchU/Rk8qtFjq69cWEvQnFQ"))
for d in ("1h", "90s", "2h30m", "366d", "0s"):
    add("policy", d)

# tlog-proof, add-checkpoint requests, witness responses: built from the bundle's proofs.
bound = json.loads(lookups[0])
inclusion = "".join(h + "\n" for h in bound["binding"]["inclusion"])
cp = checkpoints[0].decode()
add("tlog_proof", "c2sp.org/tlog-proof@v1\nindex {}\n{}\n{}".format(bound["binding"]["index"], inclusion, cp))
add("tlog_proof", "c2sp.org/tlog-proof@v1\nextra {}\nindex 0\n\n{}".format(
    base64.b64encode(base64.b64decode(bound["binding"]["entry"])[:100]).decode(), cp))
add("witness_request", "old 21\n{}\n{}".format(inclusion, cp))
add("witness_request", "old 0\n\n{}".format(cp))
add("witness_request", cp.split("\n\n")[1])  # a cosignature response
add("witness_request", "31\n")  # a 409 size body

# Bundles.
for l in lookups:
    add("bundle_json", l)
add("bundle_json", json.dumps({"ref": bound["ref"], "checkpoint": bound["checkpoint"],
                               "entries": [bound["binding"]], "next_cursor": "abc"}))

# Tile paths.
for p in ("tile/0/000.p/12", "tile/0/000", "tile/entries/000.p/31", "tile/entries/x001/000",
          "tile/0/x001/234", "tile/3/x123/x456/789.p/255", "tile/7/x001/x000/000", "tile/63/000.p/1"):
    add("tile_path", p)

# Entry bundles: count byte, bump byte (odd adds one), bundle bytes.
for n in ("12", "21", "31"):
    add("entry_bundle", bytes([int(n), 0]) + read("taglog", "log-small", "tile", "entries", "000.p", n))
add("entry_bundle", bytes([255, 1]) + b"\x00\x00" * 256)
add("entry_bundle", bytes([0, 0]))

# Map proofs: a few per map, valid and invalid, plus the value-length proofs.
maps = load("taglog", "map.json")
for m in maps["maps"]:
    for p in m["proofs"][:3] + [p for p in m["proofs"] if not p["valid"]][:3]:
        add("map_proof_json", json.dumps(p["proof"], separators=(",", ":")))
for p in maps["value_length_proofs"]:
    add("map_proof_json", json.dumps(p["proof"], separators=(",", ":")))

# Map storage: a node key, a 48-byte value, and node groups (one leaf; one subtree + one node).
value = base64.b64decode(bound["map"]["proof"]["terminal"]["value"])
key = base64.b64decode(bound["map"]["proof"]["terminal"]["key"])
add("map_storage", (7).to_bytes(8, "big") + bytes([3]) + bytes([key[0], key[1] & 0xF0]))
add("map_storage", (0).to_bytes(8, "big") + bytes([0]))
add("map_storage", value)
leaf_hash = hashlib.sha256(b"\x02" + key + hashlib.sha256(value).digest()).digest()
add("map_storage", bytes([1]) + (1 << 4).to_bytes(2, "big") + (1 << 4).to_bytes(2, "big")
    + (0).to_bytes(2, "big") + key + value + leaf_hash)
add("map_storage", bytes([1]) + (0b11).to_bytes(2, "big") + (0).to_bytes(2, "big")
    + (1 << 8).to_bytes(2, "big") + key + (5).to_bytes(8, "big") + leaf_hash
    + (6).to_bytes(8, "big") + hashlib.sha256(b"node").digest())

# Tag references and prefixes.
refs = load("taglog", "refs.json")
for c in refs["cases"][::3]:
    add("tag_ref", c["input"])
prefixes = load("taglog", "prefixes.json")
for c in prefixes["cases"][::4]:
    add("tag_ref", c["prefix"])
for c in prefixes["invalid_prefixes"][::4]:
    add("tag_ref", c["prefix"])

# The verifier: the three lookup bundles of the vector log.
for l in lookups:
    add("verify_bundle", l)

# Sign-then-parse: mode byte (0 note, 1 binding, 2 checkpoint, 3 key) and the text.
add("signed_roundtrip", b"\x00" + go["text"].encode())
add("signed_roundtrip", b"\x00" + checkpoints[0].split(b"\n\n")[0] + b"\n")
for b in binding["bindings"]:
    if b["valid"]:
        add("signed_roundtrip", b"\x01" + b["note"].split("\n\n")[0].encode() + b"\n")
for c in checkpoints[:2]:
    add("signed_roundtrip", b"\x02" + c.split(b"\n\n")[0] + b"\n")
add("signed_roundtrip", b"\x02" + signed_note["c2sp_checkpoint_example_unverifiable"]["checkpoint"].split("\n\n")[0].encode() + b"\n")
add("signed_roundtrip", b"\x03" + bytes(range(32)) + b"\x01" + b"log.example.org/taglog")
add("signed_roundtrip", b"\x03" + bytes(32) + b"\x04" + b"witness.example")

# Static objects: paths, and map objects (depth byte, then the object) with one leaf, two
# leaves in one inline group, and a subtree hash in an inline group.
for p in ("checkpoint", "tile/0/x001/234.p/7", "tile/entries/000", "map/ab/" + "cd" * 31):
    add("static_objects", p)
def leaf_bytes(first):
    return bytes([first]) + bytes(31) + (3).to_bytes(8, "big") + (1).to_bytes(8, "big") + bytes(range(32))
add("static_objects", bytes([0, 1]) + (1 << 1).to_bytes(2, "big") + (1 << 1).to_bytes(2, "big") + leaf_bytes(0x10))
inline = (0b101).to_bytes(2, "big") + (0b101).to_bytes(2, "big") + leaf_bytes(0x30) + leaf_bytes(0x32)
add("static_objects", bytes([0, 1]) + (1 << 3).to_bytes(2, "big") + bytes(2) + inline)
sub = (0b11).to_bytes(2, "big") + (0b01).to_bytes(2, "big") + leaf_bytes(0x50) + bytes([7]) * 32
add("static_objects", bytes([1, 1]) + (1 << 5).to_bytes(2, "big") + bytes(2) + sub)
# The rule book: whole logs as entry sequences (u16 BE length ‖ entry, the bundle encoding).
for n in ("12", "21", "31"):
    add("rules", read("taglog", "log-small", "tile", "entries", "000.p", n))
# Notary v1 metadata written by the real notary (tests/vectors/notary/make-vectors.sh).
for f in ("root.json", "timestamp.json", "snapshot.json", "targets.json", "targets/releases.json"):
    add("notary_metadata", read("notary", "good", *f.split("/")))
add("notary_metadata", read("notary", "root-rotated", "root.json"))

if os.path.isdir(OUT):
    shutil.rmtree(OUT)
total = 0
for target, items in sorted(seeds.items()):
    d = os.path.join(OUT, target)
    os.makedirs(d)
    for data in items:
        with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
            f.write(data)
        total += len(data)
    print(f"{target}: {len(items)} seeds")
print(f"total {total} bytes")
