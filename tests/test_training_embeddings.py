"""word2vec text-format initialisation of the embedding (with/without header, frozen or not)."""
from __future__ import annotations

import pytest
import torch

from rnnscope.errors import RnnscopeError
from rnnscope.training import TrainConfig, train_lm
from rnnscope.training.embeddings import init_embeddings, read_word2vec_text
from rnnscope.vocab import Vocabulary

VECTORS = {"the": [0.5, -1.0, 2.0, 0.25], "cat": [1.5, 0.0, -0.5, 3.0], "Dog": [-2.0, 1.0, 1.0, 1.0]}




def _w2v(path, header=True):
    lines = [f"{len(VECTORS) + 1} 4"] if header else []
    lines += [w + " " + " ".join(str(x) for x in v) for w, v in VECTORS.items()]
    lines.append("zebra 9 9 9 9")  # not in the vocabulary: skipped
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("header", [True, False])
def test_reader_keeps_wanted_words(tmp_path, header):
    vectors, dim = read_word2vec_text(_w2v(tmp_path / "v.txt", header), wanted={"the", "cat", "bird"})
    assert dim == 4 and set(vectors) == {"the", "cat"}
    assert vectors["cat"].tolist() == VECTORS["cat"]


def test_init_copies_rows_reports_coverage_and_keeps_random_rest(tmp_path):
    vocab = Vocabulary.build("word", ["the cat sat", "the dog"])  # the cat sat dog <unk> <eos>
    emb = torch.nn.Embedding(len(vocab), 4)
    before = emb.weight.detach().clone()
    cov = init_embeddings(emb, vocab, _w2v(tmp_path / "v.txt"))
    assert (cov.found, cov.total) == (3, 6)  # "dog" matched "Dog" case-insensitively
    assert emb.weight[vocab.stoi["cat"]].tolist() == VECTORS["cat"]
    assert emb.weight[vocab.stoi["dog"]].tolist() == VECTORS["Dog"]
    assert torch.equal(emb.weight[vocab.stoi["sat"]], before[vocab.stoi["sat"]])
    assert "3 of 6" in str(cov)


def test_dimension_mismatch_is_a_clear_error(tmp_path):
    vocab = Vocabulary.build("word", ["the cat"])
    with pytest.raises(RnnscopeError, match="dimension 4 .* --emb 4"):
        init_embeddings(torch.nn.Embedding(len(vocab), 8), vocab, _w2v(tmp_path / "v.txt"))


@pytest.mark.parametrize("freeze", [True, False])
def test_training_with_pretrained_embeddings(tmp_path, freeze):
    (tmp_path / "t.txt").write_text("the cat sat\nthe dog sat\n" * 30)
    (tmp_path / "v.txt").write_text("the cat sat\n")
    result = train_lm(TrainConfig(out=str(tmp_path / "r"), corpus_train=str(tmp_path / "t.txt"),
                                  corpus_valid=str(tmp_path / "v.txt"), level="word", hidden=8,
                                  embeddings=str(_w2v(tmp_path / "w.txt")), freeze_embeddings=freeze,
                                  bptt=5, batch_size=2, epochs=1, lr=0.05, progress=False))
    model, vocab = result.model, result.vocab
    assert model.config.emb_dim == 4  # taken from the file
    row = model.encoder.weight[vocab.stoi["the"]].tolist()
    assert (row == pytest.approx(VECTORS["the"])) == freeze
