#!/usr/bin/env bash
# Behaviour unchanged across a restructuring: two emalog binaries (e.g. the last release and a
# re-cut) store the same bytes and answer every reader the same, on a log that uses every
# feature (two runs, both dtypes, tracks of every form and schedule, snapshots, metrics with a
# late and a replaced value, a replaced step, owed snapshots settled, integer tensors).
# Usage: scripts/same-outputs.sh OLD_EMALOG NEW_EMALOG     Prints each comparison; exit 1 on any difference.
set -u
old=$(realpath "$1") new=$(realpath "$2")
here=$(cd "$(dirname "$0")/.." && pwd)
run=$here/../shared/acceptance/run
[[ -d $run ]] || run=$here/examples/demo-run
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
differ=0 same=0
compare() {  # compare LABEL FILE_A FILE_B
  if cmp -s "$2" "$3"; then same=$((same + 1)); else differ=$((differ + 1)); echo "DIFFERS: $1"; diff <(head -c 2000 "$2") <(head -c 2000 "$3") | head -n 6; fi
}

# The same log, written by each binary.
build() {  # build BINARY DIR
  local b=$1 d=$2
  mkdir -p "$d/late"
  "$b" ingest --db "$d/log.emalog" --snapshot-every 7 --keyframe-every 5 --ema 0.99 \
    --ema name=timm,decay=0.999,schedule=warmup,form=lerp --ema name=tf,decay=0.995,schedule=tf,form=sub \
    --ema name=pw,schedule=power,gamma=6.94 --ema name=ps,decay=0.9,per=step \
    "$run/steps" "$run/metrics.jsonl" >"$d/ingest.out" 2>&1 || return 1
  # A replaced step (one byte of its last tensor changed: the snapshots after it are re-derived)
  # and late metrics.
  local victim; victim=$(ls "$run/steps" | sed -n 12p)
  cp "$run/steps/$victim" "$d/late/$victim"
  printf '\001' | dd of="$d/late/$victim" bs=1 seek=$(( $(stat -c %s "$d/late/$victim") - 6 )) conv=notrunc status=none
  printf '{"step": 3, "eval/acc": 0.5}\n{"step": 4, "eval/acc": 0.25}\n' >"$d/late/late.jsonl"
  "$b" ingest --db "$d/log.emalog" --replace "$d/late/$victim" "$d/late/late.jsonl" >>"$d/ingest.out" 2>&1 || return 1
  if [[ -d $here/../shared/acceptance/run-bf16 ]]; then
    "$b" ingest --db "$d/bf16.emalog" --ema 0.9 "$here/../shared/acceptance/run-bf16/steps" >>"$d/ingest.out" 2>&1 || return 1
  fi
}
command -v sqlite3 >/dev/null || { echo "same-outputs: needs the sqlite3 command-line tool"; exit 1; }
for which in old new; do
  build "${!which}" "$t/$which" || { echo "same-outputs: the $which binary's ingest failed:"; tail -n 3 "$t/$which/ingest.out"; exit 1; }
done
for log in log bf16; do
  [[ -f $t/old/$log.emalog ]] || continue
  # Stored bytes: every chunk and snapshot chunk (ids, times and paths aside).
  for which in old new; do
    sqlite3 "$t/$which/$log.emalog" "SELECT c.step, t.name, c.chunk_index, c.codec, c.raw_size, c.xxh64, hex(sha3(c.data)) FROM chunks c
      JOIN tensors t ON t.id = c.tensor_id ORDER BY 1, 2, 3" >"$t/$which/$log.chunks" 2>/dev/null \
      || sqlite3 "$t/$which/$log.emalog" "SELECT c.step, t.name, c.chunk_index, c.codec, c.raw_size, c.xxh64, length(c.data), hex(substr(c.data, 1, 64)), hex(substr(c.data, -64)) FROM chunks c
      JOIN tensors t ON t.id = c.tensor_id ORDER BY 1, 2, 3" >"$t/$which/$log.chunks"
    sqlite3 "$t/$which/$log.emalog" "SELECT k.name, s.step, t.name, c.chunk_index, c.codec, c.xxh64, length(c.data) FROM snapshot_chunks c
      JOIN snapshots s ON s.id = c.snapshot_id JOIN tracks k ON k.id = s.track_id JOIN tensors t ON t.id = c.tensor_id ORDER BY 1, 2, 3, 4" >"$t/$which/$log.snapshots"
  done
  for which in old new; do  # an empty dump compares equal and proves nothing
    [[ -s $t/$which/$log.chunks && -s $t/$which/$log.snapshots ]] || { echo "same-outputs: no chunks or snapshots read from the $which $log log"; exit 1; }
  done
  compare "$log: stored chunks" "$t/old/$log.chunks" "$t/new/$log.chunks"
  compare "$log: stored snapshots" "$t/old/$log.snapshots" "$t/new/$log.snapshots"
done
sed -E 's/in [0-9.]+ s \([^)]*\)//; s/[0-9.]+ MB//g' "$t/old/ingest.out" >"$t/old/ingest.text"
sed -E 's/in [0-9.]+ s \([^)]*\)//; s/[0-9.]+ MB//g' "$t/new/ingest.out" >"$t/new/ingest.text"
compare "ingest messages" "$t/old/ingest.text" "$t/new/ingest.text"

# Every reader, both binaries on the one log the old binary wrote.
db=$t/old/log.emalog
n=0
while IFS= read -r line; do
  [[ -z $line ]] && continue
  n=$((n + 1))
  for which in old new; do
    bin=${!which}
    mkdir -p "$t/out-$which"
    eval "set -- $line"
    (cd "$t/out-$which" && "$bin" "$@" >"stdout-$n" 2>"stderr-$n"; echo "exit $?" >>"stderr-$n")
  done
  for which in old new; do  # times differ between runs
    sed -i -E 's/"seconds":[0-9.e+-]+/"seconds":T/g; s/ in [0-9.]+ s/ in T s/g' "$t/out-$which/stdout-$n"
  done
  compare "$line (stdout)" "$t/out-old/stdout-$n" "$t/out-new/stdout-$n"
  compare "$line (stderr, exit)" "$t/out-old/stderr-$n" "$t/out-new/stderr-$n"
done <<EOF
shadow --db $db --ema 0.99 -o s1.safetensors
shadow --db $db --ema timm --step 17 -o s2.safetensors
shadow --db $db --ema pw -o s3.npz
shadow --db $db --decay 0.95 --step 30 --dtype param -o s4.json
shadow --db $db --ema name=x,decay=0.97,schedule=warmup,gamma=2,power=3/4,form=sub -o -
raw --db $db --step 12 -o r1.safetensors
raw --db $db -o r2.json
sweep --db $db --decays 0.9,0.99,0.999 --ema decay=0.995,schedule=tf,form=sub --step 25 -o sweep
metrics --db $db --format csv
metrics --db $db --format json --key loss --from 3 --to 9
metrics --db $db --format table
info --db $db
info --db $db --json --provenance
audit --db $db
audit --db $db --format json
verify --db $db --ema 0.99 s1.safetensors
verify --db $db --ema timm --step 17 s2.safetensors --format json
plot --db $db --tracks -o p.svg
shadow --db $db --step 100000 -o x.safetensors
shadow --db $db --ema nope -o x.safetensors
raw --db /nonexistent.emalog -o x.safetensors
info --db $db --bogus
EOF
for file in s1.safetensors s2.safetensors s3.npz s4.json r1.safetensors r2.json p.svg; do
  compare "file $file" "$t/out-old/$file" "$t/out-new/$file"
done
for file in $(ls "$t/out-old/sweep"); do compare "sweep file $file" "$t/out-old/sweep/$file" "$t/out-new/sweep/$file"; done
echo "$same same, $differ different"
[[ $differ == 0 ]]
