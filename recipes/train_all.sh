#!/bin/sh
# Re-train every reference model (each recipe writes $RUNS/<name> and ships models/<name>/).
# CPU budget on 2 shared cores: see the "budget" field of each models/<name>/recipe.json.
set -e  # needs rnnscope on PATH (activate the venv) or RNNSCOPE=/path/to/rnnscope
cd "$(dirname "$0")/.."
for r in ptb-lstm256 ptb-gru256 ptb-rnn256 ptb-lstm128 ptb-lstm512 synthetic-lstm64 sst2-byte-lstm256 \
         sst2-classifier-lstm64 ud-en-ewt-word-lstm64 ud-en-ewt-char-lstm64 \
         ud-pt-bosque-word-lstm64 ud-no-bokmaal-word-lstm64 ud-bg-btb-word-lstm64 \
         shakespeare-char-lstm256; do
    OMP_NUM_THREADS=1 "${RNNSCOPE:-rnnscope}" recipe "$r" --data "${DATA:-../shared/data}" --runs "${RUNS:-../runs}"
done
