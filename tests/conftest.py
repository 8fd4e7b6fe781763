"""Shared fixtures: the real-data directory, multilingual sentences, a small SentencePiece model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Tests run on CPU. With libtpu installed (the `tpu` extra, for the TPU compile tests) JAX would
# otherwise probe for a TPU at every start and print warnings; TPU topologies still compile.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

# SIB-200 (FLORES-200) codes of the XLM-R languages it covers: 91 languages, 26 scripts.
XLMR_SIB200_LANGUAGES = """
afr_Latn als_Latn amh_Ethi arb_Arab asm_Beng azj_Latn bel_Cyrl ben_Beng bos_Latn bul_Cyrl
cat_Latn ces_Latn cym_Latn dan_Latn deu_Latn ell_Grek eng_Latn epo_Latn est_Latn eus_Latn
fin_Latn fra_Latn gaz_Latn gla_Latn gle_Latn glg_Latn guj_Gujr hau_Latn heb_Hebr hin_Deva
hrv_Latn hun_Latn hye_Armn ind_Latn isl_Latn ita_Latn jav_Latn jpn_Jpan kan_Knda kat_Geor
kaz_Cyrl khk_Cyrl khm_Khmr kir_Cyrl kmr_Latn kor_Hang lao_Laoo lit_Latn lvs_Latn mal_Mlym
mar_Deva mkd_Cyrl mya_Mymr nld_Latn nob_Latn npi_Deva ory_Orya pan_Guru pbt_Arab pes_Arab
plt_Latn pol_Latn por_Latn ron_Latn rus_Cyrl san_Deva sin_Sinh slk_Latn slv_Latn snd_Arab
som_Latn spa_Latn srp_Cyrl sun_Latn swe_Latn swh_Latn tam_Taml tel_Telu tgl_Latn tha_Thai
tur_Latn uig_Arab ukr_Cyrl urd_Arab uzn_Latn vie_Latn xho_Latn ydd_Hebr zho_Hans zho_Hant
zsm_Latn
""".split()
SPM_TRAIN_PER_LANGUAGE = 100  # spm_model trains on the first 100 sentences of each language
SPM_VOCAB_SIZE = 8000  # -> 8002 ids, the `tiny` preset's vocab_size


def _missing(reason: str) -> None:
    """Real data is required in CI and optional on a laptop."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so real data is required; see shared/data/SOURCES.md)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """$XLMR_DATA_DIR, default ../shared/data beside the checkout."""
    path = Path(os.environ.get("XLMR_DATA_DIR", REPO.parent / "shared" / "data"))
    if not path.is_dir():
        _missing(f"real data directory {path} not found; set XLMR_DATA_DIR")
    return path


@pytest.fixture(scope="session")
def multilingual_corpus(data_dir: Path) -> dict[str, list[str]]:
    """SIB-200 train sentences (701 per language, the same sentences in every language)."""
    corpus = {}
    for lang in XLMR_SIB200_LANGUAGES:
        path = data_dir / "text" / "sib200" / lang / "train.tsv"
        if not path.is_file():
            _missing(f"{path} not found")
        lines = path.read_text(encoding="utf-8").splitlines()
        # Header `index_id category text`; the text column holds no tabs.
        corpus[lang] = [line.split("\t", 2)[2] for line in lines[1:] if line]
    return corpus


@pytest.fixture(scope="session")
def multilingual_sentences(multilingual_corpus: dict[str, list[str]]) -> list[str]:
    """All corpus sentences round-robin over languages: any 91 consecutive ones cover all."""
    return [s for row in zip(*multilingual_corpus.values()) for s in row]


@pytest.fixture(scope="session")
def spm_model(tmp_path_factory: pytest.TempPathFactory, multilingual_sentences: list[str]) -> str:
    """Path of an 8000-piece unigram model on 9,100 sentences of 91 languages (a few seconds)."""
    from xlmr_jax.vocab import train_sentencepiece

    sentences = multilingual_sentences[: SPM_TRAIN_PER_LANGUAGE * len(XLMR_SIB200_LANGUAGES)]
    prefix = tmp_path_factory.mktemp("spm") / "multilingual_8k"
    return train_sentencepiece(sentences, prefix, SPM_VOCAB_SIZE, num_threads=2)


# 24 languages in 11 scripts for the pretraining tests (the demo uses all 91).
PRETRAIN_LANGUAGES = (
    "en fr de es ru zh-Hans ar hi sw ur el bg tr vi th ja ko he ka hy ta am my fa".split()
)


@pytest.fixture(scope="session")
def pretrain_corpus(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A small CC-100-layout corpus of real SIB-200 + UDHR text in 24 languages."""
    from xlmr_jax.data.sample_corpus import write_sample_corpus

    out = tmp_path_factory.mktemp("pretrain_corpus")
    write_sample_corpus(data_dir / "text", out, PRETRAIN_LANGUAGES, max_sentences=400)
    return out


@pytest.fixture(scope="session")
def tiny_run_bindings(pretrain_corpus: Path, spm_model: str) -> list[str]:
    """gin bindings that make gin/pretrain/tiny_cpu.gin run on the test corpus (MODEL_DIR unset)."""
    return [
        f"DATA_DIR = '{pretrain_corpus}'",
        f"SPM_MODEL = '{spm_model}'",
        "LANGUAGES = None",
        "BATCH_SIZE = 8",
        "TOKENS_PER_SAMPLE = 32",
        "WARMUP_STEPS = 2",
        "train.eval_every = 0",
        "train.log_every = 1",
    ]


@pytest.fixture(scope="session")
def gcs(tmp_path_factory: pytest.TempPathFactory):
    """A real GCS API server on 127.0.0.1 for the session; this process and its children use it."""
    from gcs_server import GcsServer

    server = GcsServer(tmp_path_factory.mktemp("gcs"))
    server.start()
    saved = {k: os.environ.get(k) for k in server.env()}
    os.environ.update(server.env())
    yield server
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
