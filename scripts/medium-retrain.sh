#!/usr/bin/env bash
# Retrain the medium profile on the lossless CIFAR-10 arrays, one model after another, one thread each
# (issue: lossless CIFAR-10). Resumable: every model resumes from its last finished epoch (train --resume),
# and a finished model is skipped (its train.json is cached by config content).
#   SNNLIB_DATA=../shared/data/cifar10-npz bash scripts/medium-retrain.sh [NAME ...]
# The medium configs said `data.pixels: jpeg` until their model was retrained; this script trains the
# lossless run (data.pixels=lossless, denormals flushed while training) and publishes its weights. Every config
# now names that run (its `pixels: jpeg` line went and `flush_denormals: true` came), so the flags below only
# restate the configs.
set -euo pipefail
cd "$(dirname "$0")/.."
export SNNLIB_PROFILE=medium
NEW=(--set data.pixels=lossless --set train.flush_denormals=true)
# name [extra --set ...]: the order of the issue (both seeds of each SEW-18 pool first)
JOBS=(
  "sew18_max"
  "sew18_max --set name=sew18_max-s1 --set seed=1 --set data.split_seed=3407 --set replicates=[]"
  "sew18_avg"
  "sew18_avg --set name=sew18_avg-s1 --set seed=1 --set data.split_seed=3407 --set replicates=[]"
  "spiking18_max"
  "ann18_max"
  "sew18_max_direct"
  "sew18_max_at"
)
for job in "${JOBS[@]}"; do
  read -r -a args <<< "$job"
  if [ $# -gt 0 ] && [[ ! " $* " == *" ${args[0]} "* ]]; then continue; fi
  echo "== $(date -u +%FT%TZ) ${job}"
  python -m snnlib train "${args[@]}" "${NEW[@]}" --resume -q
  python -m snnlib publish "${args[@]}" "${NEW[@]}" -q
done
