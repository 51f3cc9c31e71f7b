#!/usr/bin/env bash
# Fuzz smoke run: builds every cargo-fuzz target of taglog-proofs (proofs/fuzz) and of the
# client's pull-path front ends (client/fuzz) once and runs each for a few seconds from a copy
# of its committed seed corpus. Exits non-zero if a target
# fails to build or finds a crash (panic, failed round-trip assertion, timeout, OOM).
# Without a nightly toolchain (or when cargo-fuzz cannot be installed) it fails when CI is set
# (CI=1, as .ci/run sets it: a fuzz run that cannot happen must not pass), and otherwise prints
# a skip line and exits 0.
#
#   FUZZ_SMOKE_SECS   seconds per target (default 5)
#   FUZZ_SMOKE_ONLY   space-separated target names to run (default: all)
#
# Long runs and their results: docs/fuzzing.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

secs="${FUZZ_SMOKE_SECS:-5}"

# Cannot run: fail under CI, skip (exit 0) elsewhere.
cannot_run() {
  if [ -n "${CI:-}" ] && [ "${CI}" != "0" ] && [ "${CI}" != "false" ]; then
    echo "fuzz smoke: FAILED: $1 (CI is set, so this is an error, not a skip)"
    exit 1
  fi
  echo "fuzz smoke: SKIPPED: $1"
  exit 0
}

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  cannot_run "no nightly toolchain (cargo-fuzz needs one: rustup toolchain install nightly --profile minimal)"
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz smoke: installing cargo-fuzz"
  if ! cargo install cargo-fuzz --locked; then
    cannot_run "nightly is present but cargo-fuzz could not be installed (cargo install cargo-fuzz --locked)"
  fi
fi

# Each fuzz crate is its own workspace with its own target dir (<crate>/fuzz/target, ignored by
# git): instrumented builds must not share artifacts with the stable workspace build.
unset CARGO_TARGET_DIR

start=$(date +%s)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=()
targets=""
for dir in proofs/fuzz client/fuzz; do
  cd "$root/$dir"
  # No sanitizer: our crates forbid unsafe code, so ASan would only slow the run down; debug
  # assertions stay on so that arithmetic overflow panics (a crash) instead of wrapping.
  fuzz_flags=(--sanitizer none --debug-assertions)
  echo "fuzz smoke: building all targets of $dir"
  cargo +nightly fuzz build "${fuzz_flags[@]}"
  triple="$(rustc +nightly -vV | sed -n 's/^host: //p')"
  bin_dir="target/${triple}/release"

  crate_targets="$(cargo +nightly fuzz list)"
  if [ -n "${FUZZ_SMOKE_ONLY:-}" ]; then
    crate_targets="$(for t in $FUZZ_SMOKE_ONLY; do echo "$crate_targets" | grep -x "$t" || true; done)"
  fi
  targets="$targets $crate_targets"
  for t in $crate_targets; do
    mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
    if [ -d "seeds/$t" ]; then
      cp seeds/"$t"/* "$work/$t/corpus/"
    fi
    log="$work/$t/log"
    if "$bin_dir/$t" "$work/$t/corpus" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$work/$t/artifacts/" -print_final_stats=1 >"$log" 2>&1; then
      runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
      cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1)"
      echo "fuzz smoke: $t ok (${runs:-?} runs, ${cov:-cov: ?})"
    else
      echo "fuzz smoke: $t FAILED; last lines of its log:"
      tail -n 40 "$log"
      for a in "$work/$t/artifacts"/*; do
        [ -f "$a" ] || continue
        echo "fuzz smoke: $t crashing input $(basename "$a") (base64): $(base64 -w0 "$a")"
      done
      failed+=("$t")
    fi
  done
done

total=$(echo $targets | wc -w)
echo "fuzz smoke: finished in $(( $(date +%s) - start )) s"
echo "fuzz-smoke: $(( total - ${#failed[@]} )) passed, ${#failed[@]} failed"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz smoke: FAILED targets: ${failed[*]}"
  exit 1
fi
