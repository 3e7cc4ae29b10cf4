#!/usr/bin/env bash
# Runs the benchmark on a generated corpus: builds the release binaries,
# writes the corpus (cached under BUILD_DIR/bench-corpus/PROFILE-seedN),
# syncs it into an archive, and prints parsediff-bench's tables.
#
# Usage: scripts/bench.sh [BUILD_DIR]
# Environment:
#   PD_BENCH_PROFILE   corpus profile: small (default), mixed or many
#   PD_BENCH_SEED      generator seed (default 1)
#   PD_BENCH_SESSIONS  session count instead of the profile's (quick runs)
#   PD_BENCH_ARGS      extra parsediff-bench options, e.g. "--json" or "--no-peer"
#
# A cached corpus is reused only when its parsediff-gen.json exists, which
# the generator writes last; delete the directory to start over.
set -euo pipefail

build=${1:-build/release}
profile=${PD_BENCH_PROFILE:-small}
seed=${PD_BENCH_SEED:-1}
sessions=${PD_BENCH_SESSIONS:-}

# Checked here so that an error names the variable that was set, not the
# generator option it becomes.
fail() {
    echo "scripts/bench.sh: error: $*" >&2
    exit 2
}
case "$profile" in
small | mixed | many) ;;
*) fail "PD_BENCH_PROFILE must be small, mixed or many, got \"$profile\"" ;;
esac
[[ "$seed" =~ ^[0-9]+$ ]] || fail "PD_BENCH_SEED must be a non-negative integer, got \"$seed\""
if [ -n "$sessions" ] && ! [[ "$sessions" =~ ^[1-9][0-9]*$ ]]; then
    fail "PD_BENCH_SESSIONS must be a positive integer, got \"$sessions\""
fi

cmake --build "$build" --target parsediff parsediff-gen parsediff-bench -j "$(nproc)" >/dev/null

name="$profile-seed$seed"
gen_args=(--profile "$profile" --seed "$seed")
if [ -n "$sessions" ]; then
    name="$name-n$sessions"
    gen_args+=(--sessions "$sessions")
fi
corpus="$build/bench-corpus/$name"

if [ ! -f "$corpus/parsediff-gen.json" ]; then
    rm -rf "$corpus"
    "$build/bench/parsediff-gen" --out "$corpus" "${gen_args[@]}" >&2
fi

# Sync skips unchanged files, so a cached archive costs little. A newer
# parsediff binary may report changes against an archive that an older one
# wrote, and the benchmark measures that drift like any other.
"$build/bench/parsediff-gen" sync --corpus "$corpus" --db "$corpus/archive.db" \
    --parsediff "$build/parsediff" >&2

# shellcheck disable=SC2086
exec "$build/bench/parsediff-bench" --corpus "$corpus" --db "$corpus/archive.db" \
    --parsediff "$build/parsediff" ${PD_BENCH_ARGS:-}
