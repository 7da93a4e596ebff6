"""A tiny random BERT and a synthetic sentiment dataset, built in-process in about a second.

Integration tests train this instead of MiniLM so they run in seconds; everything else
(snapshots, checkpoints, Temporal, S3) is the real code path.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

POSITIVE = ["great", "lovely", "excellent", "happy", "wonderful", "superb", "enjoyed", "fantastic"]
NEGATIVE = ["awful", "terrible", "boring", "sad", "horrible", "poor", "hated", "dreadful"]
FILLER = ["the", "movie", "was", "really", "a", "show", "today", "and", "so", "very", "plot", "actors"]


def sentence(rng: random.Random, polar: list[str]) -> str:
    words = rng.sample(FILLER, 5) + rng.sample(polar, 2)
    rng.shuffle(words)
    return " ".join(words)


def write_dataset(path: Path, n: int = 240, seed: int = 0) -> Path:
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(n):
            label = "positive" if i % 2 else "negative"
            writer.writerow([sentence(rng, POSITIVE if i % 2 else NEGATIVE), label])
    return path


def build_tiny_bert(directory: Path) -> Path:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    rng = random.Random(1)
    corpus = [sentence(rng, POSITIVE if i % 2 else NEGATIVE) for i in range(400)]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=200, special_tokens=specials))
    fast = BertTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]",
                             cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")  # fmt: skip
    config = BertConfig(
        vocab_size=fast.vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=128, max_position_embeddings=64,
    )  # fmt: skip
    import torch

    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(str(directory))
    fast.save_pretrained(str(directory))
    return directory
