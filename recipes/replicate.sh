#!/bin/sh
# Re-run every analysis of docs/replication.md on the shipped models in models/:
# tables (CSV) go to $RUNS/results, figures to docs/figures/. Seeded: same numbers every run.
#   recipes/replicate.sh                       # everything
#   recipes/replicate.sh --only s004-agreement # one analysis (see `rnnscope recipe list`)
set -e  # needs rnnscope on PATH (activate the venv) or RNNSCOPE=/path/to/rnnscope
cd "$(dirname "$0")/.."
RUNS=${RUNS:-../runs}
OMP_NUM_THREADS=1 exec "${RNNSCOPE:-rnnscope}" recipe replicate --data "${DATA:-../shared/data}" --runs "$RUNS" \
    --results "$RUNS/results" --figures docs/figures "$@"
