#!/usr/bin/env bash
# Demo: sync the bundled example transcripts into a temporary archive, diff
# them (a clean report), then diff a copy of the archive in which one message
# body and one first_message were altered, so both show up as changed.
set -euo pipefail

bin=${1:-build/release/parsediff}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/parsediff-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT

cp -R "$here/examples/." "$work/"
sources=(--source "claude=$work/claude/projects" --source "codex=$work/codex/sessions")

echo "== parsediff sync: examples/ -> $work/archive.db"
"$bin" sync --db "$work/archive.db" "${sources[@]}" --progress never

echo
echo "== parsediff diff against the fresh archive (expect every session identical)"
"$bin" diff --db "$work/archive.db" "${sources[@]}" --fail-on-change --progress never
echo "exit code: 0"

echo
echo "== altering a copy of the archive: one message body, one first_message, one title"
cp "$work/archive.db" "$work/drifted.db"
sqlite3 "$work/drifted.db" <<'SQL'
UPDATE messages SET content = 'The loop stopped early.', content_length = 23
 WHERE session_id = '3f9c2a4e-5b1d-4e7a-9c3f-1a2b3c4d5e6f' AND ordinal = 5;
UPDATE sessions SET first_message = 'Add a metric flag'
 WHERE id = 'codex:0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
UPDATE sessions SET session_name = 'renamed by hand'
 WHERE id = 'codex:019c4d5e-6f70-7a81-9b2c-3d4e5f607182';
SQL

echo
echo "== parsediff diff --verbose against the altered copy (expect 2 changed, 1 informational)"
set +e
"$bin" diff --db "$work/drifted.db" "${sources[@]}" --fail-on-change --verbose --progress never
rc=$?
set -e
echo "exit code: $rc (1 = drift found under --fail-on-change)"
if [ "$rc" -ne 1 ]; then
    echo "demo: expected exit code 1 for the altered archive" >&2
    exit 1
fi
