"""Training recurrent LMs: data streams, the BPTT loop, resumable state, word2vec init."""
from rnnscope.training.train import TrainConfig, TrainResult, evaluate_loss, train_lm

__all__ = ["TrainConfig", "TrainResult", "evaluate_loss", "train_lm"]
