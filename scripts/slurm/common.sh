# Shared by the sbatch scripts; sourced, not run. Nothing to edit here: see env.sh.
#
# The run directory, the number of processes per node, and artgenre_run, which runs the
# training so that the job survives its time limit:
#
#   SIGUSR1 (Slurm's warning, `#SBATCH --signal=B:USR1@120`, or `scancel --signal=USR1 --batch`)
#       -> passed on as SIGTERM: to torchrun (one node), which hands it to its workers, or with
#          `scancel --signal=TERM` to the srun step's processes on every node (srun itself would
#          take SIGTERM as "cancel the step")
#       -> the ranks agree to stop after a step; last.pt keeps the last finished epoch; exit 75
#       -> once they have exited, `scontrol requeue`: the job starts again with the same job id,
#          hence the same run directory, and resumes (trainer.resume=auto).
#   SIGTERM (scancel, a node going down): passed on the same way, but no requeue, so that
#       `scancel` still cancels. (A scheduler preempting with PreemptMode=REQUEUE requeues by itself.)
#
# Why SIGTERM inside: torchrun's agent forwards SIGTERM to its workers on every torch version
# (and kills them 30 s later if they are still running); a SIGUSR1 would end the agent alone.

source "$ARTGENRE_HOME/scripts/slurm/env.sh"

# The run directory follows the job: the same on every node and rank, and after a requeue
# (same job id). $ARTGENRE_RUN_DIR picks one explicitly, e.g. to continue an earlier job's run.
artgenre_run_dir() {
  if [ -n "${ARTGENRE_RUN_DIR:-}" ]; then
    echo "$ARTGENRE_RUN_DIR"
  elif [ -n "${SLURM_ARRAY_JOB_ID:-}" ]; then
    echo "$ARTGENRE_OUTPUTS/slurm-${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
  else
    echo "$ARTGENRE_OUTPUTS/slurm-${SLURM_JOB_ID:?not inside a Slurm job}"
  fi
}

# Training processes per node: $ARTGENRE_NPROC if set; else the GPUs Slurm gave this node;
# else (a CPU-only allocation) one gloo process per task (--ntasks-per-node / --ntasks).
artgenre_nproc() {
  local gpus=${SLURM_GPUS_ON_NODE:-0}
  if [ -n "${ARTGENRE_NPROC:-}" ]; then
    echo "$ARTGENRE_NPROC"
    return
  fi
  if [ "$gpus" = 0 ] && [ -n "${CUDA_VISIBLE_DEVICES:-}" ] && [ "$CUDA_VISIBLE_DEVICES" != NoDevFiles ]; then
    gpus=$(awk -F, '{print NF}' <<<"$CUDA_VISIBLE_DEVICES")
  fi
  if [ "$gpus" -gt 0 ] 2>/dev/null; then
    echo "$gpus"
  else
    local tasks=${SLURM_NTASKS_PER_NODE:-${SLURM_NTASKS:-1}}
    echo "${tasks%%(*}"  # "2(x3)" on heterogeneous layouts: the first node's count
  fi
}

# A port from the job id (below Linux's ephemeral range), so jobs sharing a node never clash
artgenre_port() {
  echo $((10000 + ${SLURM_JOB_ID:-0} % 20000))
}

ARTGENRE_STOP=""      # USR1 or TERM once received
ARTGENRE_CHILD=""     # the launcher's pid
ARTGENRE_VIA_SRUN=0   # 1: the launcher is srun (several nodes)

artgenre_forward_stop() {
  echo "artgenre: SIG$1 at $(date '+%F %T'); asking the training to stop after its current step"
  [ -n "$ARTGENRE_STOP" ] || ARTGENRE_STOP=$1
  [ -n "$ARTGENRE_CHILD" ] || return 0
  if [ "$ARTGENRE_VIA_SRUN" = 1 ]; then
    # srun takes SIGTERM as "cancel the step" (SIGKILL after KillWait); scancel --signal
    # instead delivers SIGTERM to the step's processes on every node (not to this shell)
    scancel --signal=TERM "$SLURM_JOB_ID" || true
  else
    kill -TERM "$ARTGENRE_CHILD" 2>/dev/null || true
  fi
}
# installed at once: a signal before the training starts must not kill this shell
trap 'artgenre_forward_stop USR1' USR1
trap 'artgenre_forward_stop TERM' TERM

# artgenre_run COMMAND...: run the training launcher (torchrun, or srun torchrun) in the
# background so that this shell can take the signals, wait for it, requeue after a SIGUSR1.
artgenre_run() {
  local rc
  echo "artgenre: job ${SLURM_JOB_ID:-?} (restart ${SLURM_RESTART_COUNT:-0}) on $(hostname -s) at $(date '+%F %T')"
  echo "artgenre: $*"
  if [ "${1##*/}" = srun ]; then ARTGENRE_VIA_SRUN=1; fi
  if [ -z "$ARTGENRE_STOP" ]; then
    "$@" &
    ARTGENRE_CHILD=$!
    # `wait` returns early when a trapped signal arrives; go on waiting until the launcher exits
    while kill -0 "$ARTGENRE_CHILD" 2>/dev/null; do
      wait "$ARTGENRE_CHILD"
    done
    wait "$ARTGENRE_CHILD"
    rc=$?
  else
    rc=75  # stopped before it started
  fi
  echo "artgenre: training exited with status $rc at $(date '+%F %T')"
  if [ "$ARTGENRE_STOP" = USR1 ] && [ "$rc" -ne 0 ]; then
    # only after the training processes have exited, so nothing is killed mid-write
    echo "artgenre: requeueing job $SLURM_JOB_ID; it resumes from $(artgenre_run_dir)"
    scontrol requeue "$SLURM_JOB_ID" && return 0
    echo "artgenre: scontrol requeue failed; resubmit the job script to resume" >&2
  fi
  return "$rc"
}
