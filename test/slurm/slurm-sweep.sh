#!/usr/bin/env bash
# A sweep on a real one-node Slurm cluster: configure munge, slurmctld and slurmd on localhost (Debian's slurm-wlm,
# installed when missing and running as root), submit the array job "mceval plan --emit slurm" prints, wait for it,
# merge the shard stores, and check the merged results equal a single-process run of the same sweep (every column
# but train_seconds). The daemons are stopped and the temporary folder removed however the script ends.
#   bash test/slurm/slurm-sweep.sh        (after npm run build)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MCEVAL=(node "$ROOT/bin/run.js")
WORK="$(mktemp -d /tmp/mceval-slurm-XXXXXX)"
HOST="$(hostname -s)"
export SLURM_CONF="$WORK/slurm.conf"

cleanup() {
  for pidfile in "$WORK/slurmd.pid" "$WORK/slurmctld.pid"; do
    if [[ -f "$pidfile" ]]; then kill "$(cat "$pidfile")" 2>/dev/null || true; fi
  done
  if [[ -f "$WORK/munge/munged.pid" ]]; then kill "$(cat "$WORK/munge/munged.pid")" 2>/dev/null || true; fi
  sleep 1
  rm -rf "$WORK"
}
trap cleanup EXIT

if ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  if [[ "$(id -u)" != 0 ]]; then
    echo "slurm-sweep: Slurm is not installed and this is not root: apt-get install slurm-wlm munge first." >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null
fi

# munge: its own key and socket under $WORK, so a munged already running elsewhere is left alone.
mkdir -p "$WORK/munge"
chmod 755 "$WORK"
chown munge:munge "$WORK/munge" 2>/dev/null || true
dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 status=none
chown munge:munge "$WORK/munge/munge.key" 2>/dev/null || true
chmod 400 "$WORK/munge/munge.key"
MUNGE_SOCKET="$WORK/munge/munge.socket"
runuser -u munge -- /usr/sbin/munged --key-file="$WORK/munge/munge.key" --socket="$MUNGE_SOCKET" \
  --pid-file="$WORK/munge/munged.pid" --log-file="$WORK/munge/munged.log" --seed-file="$WORK/munge/munge.seed" --force

cat >"$SLURM_CONF" <<EOF
ClusterName=mceval-test
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
NodeName=$HOST CPUs=$(nproc) RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
mkdir -p "$WORK/state" "$WORK/spool"
slurmctld
slurmd
for _ in $(seq 60); do
  if sinfo -h -o '%T' 2>/dev/null | grep -q idle; then break; fi
  sleep 0.5
done
sinfo -h -o '%T' | grep -q idle || { echo "slurm-sweep: the node never became idle" >&2; cat "$WORK"/slurm*.log >&2; exit 1; }

SWEEP=(--task demo-sentiment --adapter lora,none --grid lr=1e-3,2e-3,3e-3 --grid bs=8,16 --train-limit 64
  --limit 24 --epochs 1 --jobs 1)
"${MCEVAL[@]}" plan "${SWEEP[@]}" --shards 3 --cpus-per-task 1 --time 00:10:00 --out "$WORK/merged" >"$WORK/sweep.sbatch"
echo "slurm-sweep: submitting $(grep -c '^#SBATCH' "$WORK/sweep.sbatch") directives, array $(grep -o 'array=[0-9-]*' "$WORK/sweep.sbatch")"
sbatch --wait "$WORK/sweep.sbatch" >"$WORK/sbatch.out" || { cat "$WORK"/merged/shards/slurm-*.out >&2 || true; exit 1; }
"${MCEVAL[@]}" merge "$WORK/merged" "$WORK"/merged/shards/[0-9]*
"${MCEVAL[@]}" run "${SWEEP[@]}" --out "$WORK/single" --quiet >/dev/null

node - "$WORK/merged/results.csv" "$WORK/single/results.csv" <<'EOF'
const { readFileSync } = require('node:fs');
const rows = (path) => {
  const [header, ...lines] = readFileSync(path, 'utf8').trim().split('\n').map((line) => line.split(','));
  const keep = header.map((c, i) => (c === 'train_seconds' ? -1 : i)).filter((i) => i >= 0);
  return [header, ...lines].map((cells) => keep.map((i) => cells[i]).join(','));
};
const [merged, single] = process.argv.slice(2).map(rows);
if (JSON.stringify(merged) !== JSON.stringify(single)) {
  console.error('slurm-sweep: merged results differ from the single-process run');
  console.error(merged.join('\n'));
  console.error(single.join('\n'));
  process.exit(1);
}
console.log(`slurm-sweep: ${merged.length - 1} runs from 3 array tasks equal a single-process run`);
EOF
