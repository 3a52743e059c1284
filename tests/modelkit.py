"""Builders for tiny, real sentence-transformers models saved to disk (no network, a few seconds).

The models are randomly initialised (seeded), so their embeddings carry no meaning; they exercise the
real loading, tokenizing and encoding code paths. Reuse them from tests and benchmark scripts::

    from tests.modelkit import build_tiny_bert, build_static
    path = build_tiny_bert(tmp_dir / "bert")          # Transformer -> mean Pooling -> Normalize
    path = build_static(tmp_dir / "static")           # StaticEmbedding -> Normalize

The tokenizer is the real all-MiniLM-L6-v2 WordPiece tokenizer from ``../shared/models/_incomplete``
when that directory exists (its tokenizer.json keeps its truncation at 128 tokens, as on the hub),
otherwise a small WordPiece tokenizer trained on the text below.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

MINILM_DIR = Path(__file__).resolve().parents[2] / "shared/models/_incomplete/all-MiniLM-L6-v2"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

TRAINING_TEXT = """\
Semantic search finds passages by meaning rather than by exact words. A sentence encoder turns each
passage into a vector; similar passages get nearby vectors. The index stores those vectors and answers
a query with the nearest ones. Documents are cut into passages small enough for the model to read.
The quick brown fox jumps over the lazy dog while the cat sleeps in the warm afternoon sun.
Rivers carry water from the mountains to the sea, shaping valleys, deltas and plains over millions
of years. Libraries keep books, maps, letters and records for readers who come looking for answers.
Tokenizers split text into word pieces; unknown words become several pieces or an unknown token.
Numbers such as 1, 2, 3, 42, 128 and 2024 appear in tables, dates, prices and measurements.
The river carries water from the mountains to the sea and shapes the valley; query and passage.
"""


def minilm_tokenizer_available() -> bool:
    return all((MINILM_DIR / name).is_file() for name in TOKENIZER_FILES)


def write_tokenizer(target: Path) -> None:
    """Put a BERT-style WordPiece tokenizer (HF format) into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    if minilm_tokenizer_available():
        for name in TOKENIZER_FILES:
            shutil.copyfile(MINILM_DIR / name, target / name)
        return
    _train_tokenizer().save_pretrained(str(target))


def _train_tokenizer():
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=1000, special_tokens=SPECIAL_TOKENS)
    tok.train_from_iterator(TRAINING_TEXT.splitlines() * 4, trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tok.decoder = decoders.WordPiece()
    tok.enable_truncation(128)  # like the hub's MiniLM tokenizer.json: counting must not inherit it
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=512,
    )


def _vocab_size(tokenizer_dir: Path) -> int:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json")).get_vocab_size()


def build_tiny_bert(
    target: str | Path,
    *,
    prompts: dict[str, str] | None = None,
    max_seq_length: int = 64,
    hidden: int = 32,
    seed: int = 0,
) -> Path:
    """Save a tiny BERT (2 layers, 2 heads) Transformer -> mean Pooling -> Normalize model; return its dir."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel

    target = Path(target)
    with tempfile.TemporaryDirectory(prefix="tiny-bert-hf-") as tmp:
        hf_dir = Path(tmp)
        write_tokenizer(hf_dir)
        config = BertConfig(
            vocab_size=_vocab_size(hf_dir), hidden_size=hidden, num_hidden_layers=2,
            num_attention_heads=2, intermediate_size=2 * hidden, max_position_embeddings=128,
        )
        torch.manual_seed(seed)
        BertModel(config).save_pretrained(str(hf_dir))
        transformer = Transformer(str(hf_dir), max_seq_length=max_seq_length)
        pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
        model = SentenceTransformer(modules=[transformer, pooling, Normalize()], prompts=prompts, device="cpu")
        model.save(str(target))
    return target


def build_static(target: str | Path, *, dim: int = 32, seed: int = 0, truncation: int | None = None) -> Path:
    """Save a seeded StaticEmbedding -> Normalize model; return its dir.

    The tokenizer's truncation is disabled unless ``truncation`` is given (then it caps the input).
    """
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, StaticEmbedding
    from tokenizers import Tokenizer

    target = Path(target)
    with tempfile.TemporaryDirectory(prefix="tiny-static-tok-") as tmp:
        write_tokenizer(Path(tmp))
        tokenizer = Tokenizer.from_file(str(Path(tmp) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    if truncation is not None:
        tokenizer.enable_truncation(truncation)
    generator = torch.Generator().manual_seed(seed)
    weights = torch.randn(tokenizer.get_vocab_size(), dim, generator=generator)
    static = StaticEmbedding(tokenizer, embedding_weights=weights)
    model = SentenceTransformer(modules=[static, Normalize()], device="cpu")
    model.save(str(target))
    return target


def long_text(n_words: int) -> str:
    """Deterministic text of ``n_words`` words, each a single token of the test tokenizers."""
    words = "the river carries water from the mountains to the sea and shapes the valley".split()
    return " ".join(words[i % len(words)] for i in range(n_words))
