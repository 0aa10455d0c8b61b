#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, and a tiny profile through it:
#
#   sudo scripts/slurm-local.sh            # (as root: it installs packages and starts slurmctld/slurmd)
#
# 1. installs Debian's slurm-wlm and munge if missing (apt-get);
# 2. writes a slurm.conf for localhost (one node with $(nproc) CPUs, partition `debug`, no cgroups,
#    state and spool under a temporary folder), creates a munge key if missing, starts munged (unless one
#    answers already), slurmctld and slurmd, and waits until `sinfo` shows the node idle;
# 3. builds a temporary project with two tiny configs (on the first 200/100 CIFAR-10 images of SNNLIB_DATA,
#    else on random pixels) and runs
#      python -m snnlib reproduce --all --executor slurm --partition debug --stages train,evaluate
#    then the same with --executor pool --jobs 1 into another folder, and compares the results
#    (final metrics and per-sample outcomes of every result file);
# 4. checks that a partition Slurm rejects gives one error line with Slurm's message;
# 5. prints the Slurm jobs (ids, names, states, submit/start/end times, run time); stops the daemons on exit.
#
# It exits non-zero, saying why, if the daemons do not start, a job fails or the results differ; it never
# reports success without having run the jobs. KEEP=1 keeps the temporary folder (its path is printed).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || PY=$(command -v python3)
DATA=${SNNLIB_DATA:-$ROOT/../shared/data/cifar10-npz}
WORK=$(mktemp -d /tmp/slurm-local.XXXXXX)
STARTED_MUNGE=""
say() { echo "[slurm-local] $*"; }
fail() { echo "[slurm-local] FAILED: $*" >&2; exit 1; }

stop_daemons() {
    set +e
    if [ -n "${SLURM_CONF:-}" ] && [ -f "$WORK/slurmctld.pid" ]; then
        squeue -h -o %i 2>/dev/null | xargs -r scancel 2>/dev/null  # our private cluster's jobs only
    fi
    for pidfile in "$WORK/slurmd.pid" "$WORK/slurmctld.pid" $STARTED_MUNGE; do
        [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
    done
    sleep 1
    if [ "${KEEP:-0}" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap stop_daemons EXIT

[ "$(id -u)" = 0 ] || fail "run as root: it installs packages and starts munged, slurmctld and slurmd"

# 1. packages
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
        || ! command -v munged >/dev/null; then
    say "installing slurm-wlm and munge (apt-get)"
    apt-get update -qq || fail "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null \
        || fail "apt-get install slurm-wlm munge failed"
fi
say "$(dpkg-query -W -f '${Package} ${Version}' slurm-wlm 2>/dev/null || sbatch --version), $(munged --version 2>&1 | head -1)"

# 2. munge: a key, and a daemon that answers
if [ ! -s /etc/munge/munge.key ]; then
    say "creating /etc/munge/munge.key"
    mkdir -p /etc/munge
    if command -v mungekey >/dev/null; then mungekey --create --force; else
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none; fi
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
fi
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    mkdir -p /run/munge /var/log/munge /var/lib/munge && chown munge:munge /run/munge /var/log/munge /var/lib/munge
    runuser -u munge -- munged || fail "munged did not start: $(tail -3 /var/log/munge/munged.log 2>/dev/null)"
    STARTED_MUNGE=/run/munge/munged.pid
    sleep 1
    munge -n | unmunge >/dev/null || fail "munged started but does not answer (munge -n | unmunge)"
fi

# 3. slurm.conf for localhost, and the daemons
mkdir -p "$WORK/state" "$WORK/spool" "$WORK/log"
export SLURM_CONF=$WORK/slurm.conf
cat > "$SLURM_CONF" <<EOF
ClusterName=snnlib-local
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$WORK/log/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
MinJobAge=3600
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start: $(tail -5 "$WORK/log/slurmctld.log" 2>/dev/null)"
slurmd -f "$SLURM_CONF" -N localhost || fail "slurmd did not start: $(tail -5 "$WORK/log/slurmd.log" 2>/dev/null)"
for _ in $(seq 60); do
    state=$(sinfo -h -N -n localhost -o %t 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 1
done
[ "${state:-}" = idle ] || fail "the node is not idle after 60 s (sinfo: '${state:-no answer}'); slurmctld: \
$(tail -3 "$WORK/log/slurmctld.log" 2>/dev/null | tr '\n' ' ') slurmd: $(tail -3 "$WORK/log/slurmd.log" 2>/dev/null | tr '\n' ' ')"
say "cluster up: $(sinfo -h -o '%P %a %D node(s) %c cpus %t')"

# 4. a tiny project: two configs, on a small npz copy of CIFAR-10 (or random pixels)
PROJ=$WORK/project
mkdir -p "$PROJ/configs/quick" "$WORK/data"
"$PY" - "$DATA" "$WORK/data" <<'EOF'
import sys
from pathlib import Path

import numpy as np

src, out = Path(sys.argv[1]), Path(sys.argv[2])
for split, n in (("train", 200), ("test", 100)):
    if (src / f"{split}.npz").is_file():
        with np.load(src / f"{split}.npz") as f:
            x, y = f["x"][:n], f["y"][:n]
    else:
        g = np.random.default_rng(0)
        x, y = g.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), np.arange(n) % 10
    np.savez(out / f"{split}.npz", x=x, y=y)
print("[slurm-local] data:", "first images of " + str(src) if (src / "train.npz").is_file() else "random pixels")
EOF
for cfg in "tiny_max 1 max" "tiny_avg 2 avg"; do
    set -- $cfg
    cat > "$PROJ/configs/quick/$1.yaml" <<EOF
name: $1
profile: quick
role: control
seed: $2
data: {dataset: "npz:$WORK/data", n_per_class: 4, val_fraction: 0.25, test_per_class: 2, eval_per_class: 2}
model: {arch: sew_resnet18, pool: $3, width: 2}
train: {epochs: 2, batch_size: 8}
attack: {eps_sweep: [], batch_size: 10}
EOF
done
export SNNLIB_HOME=$PROJ SNNLIB_PROFILE=quick SNNLIB_DATA=$WORK/data
cd "$PROJ"

# 5. a partition Slurm rejects: one line, with Slurm's own words
set +e
err=$("$PY" -m snnlib reproduce --all --executor slurm --partition nope -q --out "$WORK/out-nope" 2>&1 >/dev/null)
rc=$?
set -e
[ $rc = 2 ] && [ "$(echo "$err" | wc -l)" = 1 ] && echo "$err" | grep -qi "partition" \
    || fail "a rejected partition should give one error line and exit 2, got $rc: $err"
say "a rejected partition (exit $rc): $err"

# 6. the same profile through Slurm and through the process pool (one thread, as each Slurm job)
t0=$(date +%s)
"$PY" -m snnlib reproduce --all --executor slurm --partition debug --stages train,evaluate --time 00:30:00 \
    --out "$WORK/out-slurm" > "$WORK/slurm.json" || fail "reproduce --executor slurm failed (see above)"
t1=$(date +%s)
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 "$PY" -m snnlib reproduce --all --executor pool --jobs 1 -q \
    --stages train,evaluate --out "$WORK/out-pool" > "$WORK/pool.json" || fail "reproduce --executor pool failed"
t2=$(date +%s)
say "slurm executor: $((t1 - t0)) s; pool executor: $((t2 - t1)) s"

# 7. the Slurm jobs
say "Slurm jobs (scontrol; accounting is off on this one-node cluster, so no sacct):"
scontrol show job -o | awk '{ delete f; for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = substr($i, length(kv[1]) + 2) }
    id = ("ArrayTaskId" in f) ? f["ArrayJobId"] "_" f["ArrayTaskId"] : f["JobId"]
    printf "  %-6s %-22s %-9s exit %-4s submit %s start %s end %s run %s\n", id, f["JobName"], f["JobState"],
        f["ExitCode"], substr(f["SubmitTime"], 12), substr(f["StartTime"], 12), substr(f["EndTime"], 12), f["RunTime"] }' | sort
njobs=$(scontrol show job -o | grep -c "JobState=COMPLETED" || true)
nall=$(scontrol show job -o | grep -c "JobId=" || true)
[ "$njobs" -ge 4 ] && [ "$njobs" = "$nall" ] || fail "expected 4 completed Slurm jobs (2 configs x 2 waves), got $njobs of $nall"

# 8. the results, side by side
"$PY" - "$WORK" <<'EOF'
import json
import sys
from pathlib import Path

work = Path(sys.argv[1])


def metrics(root):
    out = {}
    for f in sorted((root / "results").rglob("*.json")):
        d = json.loads(f.read_text())
        final = {k: v for k, v in d.get("final", {}).items() if not k.endswith("_s")}
        out[str(f.relative_to(root))] = json.dumps([final, d.get("per_sample")], sort_keys=True)
    return out


s, p = metrics(work / "out-slurm"), metrics(work / "out-pool")
printed = json.loads((work / "slurm.json").read_text().splitlines()[-1])
assert printed["executor"] == "slurm" and len(printed["files"]) == 2, printed
for k in sorted(s):
    d = json.loads(s[k])[0]
    brief = {m: round(v, 4) if isinstance(v, float) else v for m, v in d.items()
             if m in ("test_acc_best", "val_acc_best", "best_epoch", "clean_acc", "fgsm_acc", "pgd_acc")}
    print(f"  {k}: {'same' if s.get(k) == p.get(k) else 'DIFFERENT'} {brief}")
if not s or s != p:
    sys.exit(f"[slurm-local] FAILED: the results differ ({len(s)} files by Slurm, {len(p)} by the pool)")
print(f"[slurm-local] OK: {len(s)} result files, identical under --executor slurm and --executor pool")
EOF
