#!/usr/bin/env bash
# Every GPU figure of docs/performance.md §8 that comes from benchmarks/ (step_time, scaling, inference), in one
# run of under 10 minutes on one H100 / H200, so that the first GPU session brings the numbers back in one call.
#
#   benchmarks/gpu.sh [OUT_DIR]              # on a CUDA machine, from the repository root, with its venv
#   benchmarks/gpu.sh --dry-run [OUT_DIR]    # the same commands on CPU at toy sizes: checks that they run
#
# Each command writes its JSON to OUT_DIR (default runs/gpu-<date>) and runs under its own time limit, so that
# one hung command cannot take the whole budget; the limits add up to 9 minutes. A summary of the figures
# (ratios with their 95 % CIs, MFU, memory) is printed at the end and written to OUT_DIR/summary.json.
# PYTHON (default: .venv/bin/python when present, else python) and PEAK_TFLOPS (default 989: dense bf16 on
# H100 / H200) can be set in the environment.
set -uo pipefail

dry=0
if [[ "${1:-}" == "--dry-run" ]]; then
  dry=1
  shift
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root" || exit 1
out="${1:-runs/gpu-$(date +%Y-%m-%d-%H%M%S)}"
mkdir -p "$out"
if [[ -n "${PYTHON:-}" ]]; then
  py="$PYTHON"
elif [[ -x .venv/bin/python ]]; then
  py=.venv/bin/python
else
  py=python
fi
peak="${PEAK_TFLOPS:-989}"

if (( dry )); then
  # toy sizes on CPU (ViT-B/32 shapes still: a few seconds a step, so three times the time limits); aot_eager
  # compiles without a C compiler
  device=cpu; batch=2; rounds=2; warmup=1; peak_batch=2; items=16; inf_batch=4; backend=aot_eager; slow=3
else
  device=cuda; batch=128; rounds=30; warmup=3; peak_batch=512; items=8192; inf_batch=256; backend=inductor; slow=1
  if ! "$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu.sh: torch sees no CUDA device (use --dry-run to check the commands on CPU)" >&2
    exit 2
  fi
fi

failed=()
run() {  # run NAME SECONDS ARGS...: python -m ARGS > OUT/NAME.json, within SECONDS
  local name=$1 limit=$(($2 * slow))
  shift 2
  echo "== $name: $py -m $* (limit ${limit}s)" >&2
  local t0=$SECONDS
  if timeout --signal=INT --kill-after=20 "$limit" "$py" -m "$@" >"$out/$name.json" 2>"$out/$name.log"; then
    echo "   done in $((SECONDS - t0)) s" >&2
  else
    echo "   FAILED (exit $?, $((SECONDS - t0)) s): see $out/$name.log" >&2
    failed+=("$name")
  fi
}

# §8: the ViT-B/32 train step at B = 128 under bf16 autocast, eager (with the padded-text and forward-only
# variants: does packing pay with SDPA's kernels?), then compiled on batches whose shapes vary as in training
run step_eager 150 benchmarks.step_time --shape vit-b32 --batch "$batch" --device "$device" --autocast bf16 \
  --rounds "$rounds" --warmup-rounds "$warmup" --peak-tflops "$peak" \
  --variants rcml clip rcml_padded rcml_forward clip_forward
run step_compiled 210 benchmarks.step_time --shape vit-b32 --batch "$batch" --device "$device" --autocast bf16 \
  --rounds "$rounds" --warmup-rounds "$warmup" --peak-tflops "$peak" --compile --compile-backend "$backend"
# §7 / §8: the allocator's peak of real B = 512 steps (on CPU: the bytes saved for backward at a toy B)
run peak_memory 90 benchmarks.scaling --measure-vit-b32 "$peak_batch" --bf16 --device "$device"
# §3 / §8: inference ms/sample, RCML against CLIP
run inference 90 benchmarks.inference --shape vit-b32 --items "$items" --batch "$inf_batch" --device "$device" \
  --rounds "$rounds" --warmup-rounds "$warmup"

"$py" - "$out" <<'EOF' || failed+=("summary")
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
summary = {}
for path in sorted(out.glob("*.json")):
    if path.name == "summary.json" or path.stat().st_size == 0:
        continue
    text = path.read_text()
    data = json.loads(text[text.index("{"):])
    pick = {k: data[k] for k in ("machine", "ratios", "ratio", "mfu", "achieved_tflops", "cuda_peak_mb",
                                 "step_ms", "clip_ms_per_sample", "rcml_ms_per_sample", "compile_counters",
                                 "warmup_s", "batch_shapes") if k in data}
    pick.update({k: v for k, v in data.items() if k.endswith("_gib") or k.startswith("unique_items")})
    summary[path.stem] = pick
(out / "summary.json").write_text(json.dumps(summary, indent=2))
print(json.dumps(summary, indent=2))
EOF

if (( ${#failed[@]} )); then
  echo "gpu.sh: failed: ${failed[*]} (logs in $out)" >&2
  exit 1
fi
echo "gpu.sh: all figures in $out (summary.json)" >&2
