#!/usr/bin/env bash
# A throwaway Slurm cluster on this machine, for the tests: munged, slurmctld and one slurmd
# per node with every file (key, socket, config, state, spool, logs, pid files) under DIR.
#
#   tests/slurm/cluster.sh start DIR [NODES]  # prints SLURM_CONF=DIR/slurm.conf once the nodes are idle
#   tests/slurm/cluster.sh stop DIR           # stops exactly the daemons `start` started (by pid)
#
# NODES=1 (default): one node named after this host. NODES=2 or more: nodes artgenre-n1, ...,
# each its own `slurmd -N NAME` with its own port, all at NodeAddr=127.0.0.1; their names are
# added to /etc/hosts (127.0.0.1) when they do not resolve, since jobs reach the first node by name.
#
# Needs root and Debian's slurmctld, slurmd, slurm-client and munge packages; no systemd.
# A private munge socket and free ports keep it apart from any other munge or Slurm on the host.
set -euo pipefail

cmd=${1:?usage: cluster.sh start|stop DIR}
dir=${2:?usage: cluster.sh start|stop DIR}
nodes=${3:-1}

free_port() {  # a port nobody listens on; the kernel could still hand it out meanwhile (rare)
  local port
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
  done
  echo "no free port found" >&2; return 1
}

stop_pidfile() {
  local file=$1 pid
  [ -s "$file" ] || return 0
  pid=$(cat "$file")
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq $((50 * ${ARTGENRE_TEST_TIME_SCALE:-1}))); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

start() {
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  mkdir -p "$dir"/{state,spool,log,run}
  install -d -m 711 "$dir/munge"
  head -c 1024 /dev/urandom > "$dir/munge/munge.key"
  chmod 400 "$dir/munge/munge.key"
  munged --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed"

  local host node names node_lines="" i
  host=$(hostname -s)
  # slurmd -C describes this machine (CPUs, sockets, memory) in slurm.conf's own syntax
  node=$(slurmd -C | head -n1)
  if [ "$nodes" -le 1 ]; then
    names=$host
    node_lines="$node State=UNKNOWN"
  else
    names=""
    for i in $(seq "$nodes"); do
      names="$names${names:+,}artgenre-n$i"
      node_lines="$node_lines${node_lines:+$'\n'}NodeName=artgenre-n$i NodeAddr=127.0.0.1 Port=$(free_port) ${node#NodeName=* } State=UNKNOWN"
      getent hosts "artgenre-n$i" >/dev/null || echo "127.0.0.1 artgenre-n$i" >> /etc/hosts
    done
    echo "$names" > "$dir/nodes"
  fi
  cat > "$dir/slurm.conf" <<EOF
ClusterName=artgenre-test
SlurmctldHost=$host
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
CredType=cred/munge
# cred_expire: a requeued job waits cred_expire + 1 s before it may start again (default 120)
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=${ARTGENRE_TEST_CRED_EXPIRE:-5}
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/slurmd-%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# schedule every 2 s (default 60/30 s), so a requeued job starts as soon as it may
SchedulerParameters=sched_interval=2,bf_interval=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
JobRequeue=1
KillWait=10
MinJobAge=600
$node_lines
PartitionName=debug Nodes=$names Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
  export SLURM_CONF="$dir/slurm.conf"
  slurmctld -i -f "$SLURM_CONF"
  if [ "$nodes" -le 1 ]; then
    slurmd -f "$SLURM_CONF"
  else
    for i in $(seq "$nodes"); do slurmd -f "$SLURM_CONF" -N "artgenre-n$i"; done
  fi

  local state=""  # 30 s on an idle machine, times the tests' ARTGENRE_TEST_TIME_SCALE
  for _ in $(seq $((150 * ${ARTGENRE_TEST_TIME_SCALE:-1}))); do
    state=$(sinfo -h -n "$names" -o %t 2>/dev/null | sort -u | tr '\n' ' ' || true)
    if [ "$state" = "idle " ]; then echo "SLURM_CONF=$SLURM_CONF"; return 0; fi
    sleep 0.2
  done
  echo "the test cluster did not come up (node state '${state}'); logs in $dir/log" >&2
  tail -n 20 "$dir"/log/*.log >&2 || true
  return 1
}

stop() {
  # slurmd first: it ends its job step daemons; then the controller; munge last
  local f
  for f in "$dir"/run/slurmd-*.pid; do stop_pidfile "$f"; done
  stop_pidfile "$dir/run/slurmctld.pid"
  stop_pidfile "$dir/munge/munged.pid"
}

case $cmd in
  start) start ;;
  stop) stop ;;
  *) echo "usage: cluster.sh start|stop DIR" >&2; exit 2 ;;
esac
