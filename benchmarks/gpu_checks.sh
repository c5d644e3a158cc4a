#!/usr/bin/env bash
# The GPU checks of the first real GPU run (issue 17), in one run: about 6-8 minutes on one H100
# with 16 CPUs (budgeted, not yet measured: no GPU was lent to this work). From the repository root:
#
#   OUT=/tmp/gpu-checks bash benchmarks/gpu_checks.sh        # PYTHON=... to pick the interpreter
#
# Writes every figure under $OUT and a one-line-per-check summary, $OUT/summary.txt. What each step
# confirms is in docs/performance.md §8. A failing step is recorded and the next one runs.
set -uo pipefail
PY=${PYTHON:-python}
OUT=${OUT:-$(mktemp -d -t rcml-gpu-checks-XXXX)}
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"

step() {  # step NAME TIMEOUT_S COMMAND...: run, log to $OUT/NAME.log, one summary line
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS
  if timeout "$limit" "$@" > "$OUT/$name.log" 2>&1; then
    echo "ok    $name ($((SECONDS - t0)) s)" | tee -a "$SUMMARY"
  else
    echo "FAIL  $name ($((SECONDS - t0)) s, exit $?): see $OUT/$name.log" | tee -a "$SUMMARY"
  fi
}

# 0. The machine.
step device 60 "$PY" -c "import json, torch; print(json.dumps({'torch': torch.__version__, 'cuda': torch.version.cuda,
'device': torch.cuda.get_device_name(0), 'bf16': torch.cuda.is_bf16_supported(), 'cpus': __import__('os').cpu_count()}))"

# 1. Every gpu-marked test (items 2, 4, 6, 7, 8, 9, 10): sync count per step under
#    torch.cuda.set_sync_debug_mode, CPU vs CUDA evaluation of one checkpoint, pinned staging, the
#    producer's copy stream, the CUDA loss.
step gpu_tests 300 "$PY" -m pytest -q -m gpu -p no:cacheprovider tests/train tests/model tests/test_loss.py

# 2. The producer alone (item 9), with the 4 CPUs of a g5.xlarge worker and with all of them; on
#    CUDA it includes the pinned, non-blocking copies on the producer's stream.
step input_pipeline_4cpu 180 "$PY" -m benchmarks.input_pipeline --device cuda --items 20000 --threads 4 \
  --cache-dir "$OUT/image-cache"
step input_pipeline_all_cpus 120 "$PY" -m benchmarks.input_pipeline --device cuda --items 20000 \
  --cache-dir "$OUT/image-cache"

# 3. The whole loop at the paper's batch (items 7-12): a ViT-B/32-shaped random backbone at 224 px,
#    B = 512, 30 steps, bf16 towers (precision auto) and fp32 with TF32; metrics.json has
#    time/pairs_per_s, the losses and val Hit@5 of both.
step synth_catalog 180 "$PY" -m rcml_cli data synth --preset default --out "$OUT/data" --no-progress
VIT_B32=(backbone.hidden_size=768 backbone.intermediate_size=3072 backbone.num_layers=12 backbone.num_heads=12
         backbone.image_size=224 backbone.patch_size=32 backbone.projection_dim=512)
for precision in auto fp32; do
  step "train_vit_b32_b512_$precision" 240 "$PY" -m rcml_cli train --data "$OUT/data" "${VIT_B32[@]}" \
    batch_size=512 epochs=1 max_steps_per_epoch=30 train.log_every=10 device=cuda "train.precision=$precision" \
    "out_dir=$OUT/run-$precision"
done

# 4. A sweep asked for GPUs trains on the granted GPU (items 1, 2, 5, 11): every trial's run config
#    says cuda, and its best checkpoint has no optimiser state.
step sweep_gpu 300 "$PY" sweeps/beta_sweep.py --smoke-test --gpu --home "$OUT/home" --no-register

"$PY" - "$OUT" <<'EOF' | tee -a "$SUMMARY"
import json, sys
from pathlib import Path

import torch

out = Path(sys.argv[1])
for name in ("input_pipeline_4cpu", "input_pipeline_all_cpus"):
    try:
        text = (out / f"{name}.log").read_text()
        r = json.loads(text[text.index("{"):])
        print(f"{name}: producer {r['producer_pairs_per_s']:.0f} pairs/s (target 10000), host batch "
              f"{r['host_batch_ms']:.1f} ms, gather {r['gather_images_ms']:.1f} ms, mask {r['false_negative_mask_ms']:.1f} ms")
    except (OSError, ValueError, KeyError) as exc:
        print(f"{name}: no result ({exc})")
for precision in ("auto", "fp32"):
    try:
        report = json.loads((out / f"run-{precision}" / "metrics.json").read_text())
        epoch = report["epochs"][-1]
        print(f"train precision={precision}: {epoch['time/pairs_per_s']:.0f} pairs/s, loss {epoch['train/loss']:.4f}, "
              f"val hit@5 {report['best_val_hit@5']:.4f}")
    except (OSError, ValueError, KeyError, IndexError) as exc:
        print(f"train precision={precision}: no result ({exc})")
configs = sorted((out / "home" / "runs").glob("*/*/config.json"))
devices = {json.loads(p.read_text())["train"]["device"] for p in configs}
print(f"sweep --gpu: {len(configs)} trial run(s), train.device {sorted(devices)}")
for best in sorted((out / "home" / "runs").glob("*/*/checkpoints/best/trainer.pt"))[:1]:
    print(f"best checkpoint keys: {sorted(torch.load(best, weights_only=True))}")
EOF
echo "results in $OUT"
