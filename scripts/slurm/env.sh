# Sourced by train.sbatch, train_multinode.sbatch and study.sbatch (via common.sh).
# ARTGENRE_HOME is the repository root (the submit directory unless you export it).
#
# ============================ EDIT ONCE FOR YOUR CLUSTER ==============================
# What it must achieve: `"${ARTGENRE_EXEC[@]}" torchrun -m artgenre.train ...` runs the
# installed project, on the first node and (through srun) on every other node.
#
# NYU Greene: Singularity image + your overlay holding a conda env with the project
# installed (pip install -e . inside the overlay). Uncomment and adapt the paths:
#
#   ARTGENRE_EXEC=(singularity exec --nv
#     --overlay "/scratch/$USER/artgenre/overlay-25GB-500K.ext3:ro"
#     /scratch/work/public/singularity/cuda12.1.1-cudnn8.9.0-devel-ubuntu22.04.2.sif
#     /bin/bash -c 'source /ext3/env.sh; exec "$@"' artgenre)
#   ARTGENRE_OUTPUTS=/scratch/$USER/artgenre/outputs
#
# A plain node without containers: load modules or activate an environment here, e.g.
#   module load python/3.11 cuda/12.1    or    source ~/miniconda3/bin/activate artgenre
# By default the project's own virtual environment (`make install`) is used.
ARTGENRE_EXEC=()
if [ -f "$ARTGENRE_HOME/.venv/bin/activate" ]; then
  source "$ARTGENRE_HOME/.venv/bin/activate"
fi
# Run directories go below this folder (one per job; see common.sh).
ARTGENRE_OUTPUTS=${ARTGENRE_OUTPUTS:-$ARTGENRE_HOME/outputs}
export ARTGENRE_OUTPUTS  # logger=mlflow keeps its default local store (mlflow.db) there
# ======================================================================================
