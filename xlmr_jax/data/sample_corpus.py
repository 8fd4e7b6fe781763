"""A small CC-100-layout corpus from the shared real text (SIB-200 and UDHR), for tests and demos.

Each language gets SIB-200's train sentences followed by its UDHR text, cut to a length that
grows with the square root of its CC-100 size (so the corpus is imbalanced like CC-100, within
min_sentences..max_sentences), grouped into documents of 1 to 12 lines separated by blank lines.
"""

from __future__ import annotations

import lzma
from collections.abc import Sequence
from pathlib import Path

from xlmr_jax import storage
from xlmr_jax.data.cc100 import cc100_sizes

# CC-100 code -> FLORES-200 code (SIB-200 directory); its first part names the UDHR file.
FLORES_CODES = {
    "af": "afr_Latn", "am": "amh_Ethi", "ar": "arb_Arab", "as": "asm_Beng", "az": "azj_Latn",
    "be": "bel_Cyrl", "bg": "bul_Cyrl", "bn": "ben_Beng", "bs": "bos_Latn", "ca": "cat_Latn",
    "cs": "ces_Latn", "cy": "cym_Latn", "da": "dan_Latn", "de": "deu_Latn", "el": "ell_Grek",
    "en": "eng_Latn", "eo": "epo_Latn", "es": "spa_Latn", "et": "est_Latn", "eu": "eus_Latn",
    "fa": "pes_Arab", "fi": "fin_Latn", "fr": "fra_Latn", "ga": "gle_Latn", "gd": "gla_Latn",
    "gl": "glg_Latn", "gu": "guj_Gujr", "ha": "hau_Latn", "he": "heb_Hebr", "hi": "hin_Deva",
    "hr": "hrv_Latn", "hu": "hun_Latn", "hy": "hye_Armn", "id": "ind_Latn", "is": "isl_Latn",
    "it": "ita_Latn", "ja": "jpn_Jpan", "jv": "jav_Latn", "ka": "kat_Geor", "kk": "kaz_Cyrl",
    "km": "khm_Khmr", "kn": "kan_Knda", "ko": "kor_Hang", "ku": "kmr_Latn", "ky": "kir_Cyrl",
    "lo": "lao_Laoo", "lt": "lit_Latn", "lv": "lvs_Latn", "mg": "plt_Latn", "mk": "mkd_Cyrl",
    "ml": "mal_Mlym", "mn": "khk_Cyrl", "mr": "mar_Deva", "ms": "zsm_Latn", "my": "mya_Mymr",
    "ne": "npi_Deva", "nl": "nld_Latn", "no": "nob_Latn", "om": "gaz_Latn", "or": "ory_Orya",
    "pa": "pan_Guru", "pl": "pol_Latn", "ps": "pbt_Arab", "pt": "por_Latn", "ro": "ron_Latn",
    "ru": "rus_Cyrl", "sa": "san_Deva", "sd": "snd_Arab", "si": "sin_Sinh", "sk": "slk_Latn",
    "sl": "slv_Latn", "so": "som_Latn", "sq": "als_Latn", "sr": "srp_Cyrl", "su": "sun_Latn",
    "sv": "swe_Latn", "sw": "swh_Latn", "ta": "tam_Taml", "te": "tel_Telu", "th": "tha_Thai",
    "tl": "tgl_Latn", "tr": "tur_Latn", "ug": "uig_Arab", "uk": "ukr_Cyrl", "ur": "urd_Arab",
    "uz": "uzn_Latn", "vi": "vie_Latn", "xh": "xho_Latn", "yi": "ydd_Hebr",
    "zh-Hans": "zho_Hans", "zh-Hant": "zho_Hant",
}  # fmt: skip


def language_lines(text_dir: str | Path, lang: str) -> list[str]:
    """SIB-200 train sentences then UDHR lines (when present) of a CC-100 language."""
    text_dir, flores = Path(text_dir), FLORES_CODES[lang]
    rows = (text_dir / "sib200" / flores / "train.tsv").read_text("utf-8").splitlines()[1:]
    lines = [row.split("\t", 2)[2] for row in rows if row]
    udhr = text_dir / "udhr2" / f"{flores.split('_')[0]}.txt"
    if udhr.is_file():
        lines += [line.strip() for line in udhr.read_text("utf-8").splitlines() if line.strip()]
    return lines


def write_sample_corpus(
    text_dir: str | Path,
    out_dir: str | Path,
    languages: Sequence[str] | None = None,
    *,
    min_sentences: int = 24,
    max_sentences: int = 900,
    xz: bool = False,
) -> dict[str, int]:
    """Writes `<lang>.txt` (or `.txt.xz`) per language into out_dir; returns lines per language."""
    out_dir = storage.as_path(out_dir, "--out")
    languages = list(languages or FLORES_CODES)
    gib = cc100_sizes("gib", tuple(languages))
    largest = max(gib.values())
    written = {}
    for lang in languages:
        lines = language_lines(text_dir, lang)
        n = round(max_sentences * (gib[lang] / largest) ** 0.5)
        lines = lines[: max(min_sentences, min(n, max_sentences))]
        docs, start = [], 0
        while start < len(lines):
            size = 1 + (start * 7 + len(docs)) % 12
            docs.append("\n".join(lines[start : start + size]))
            start += size
        text = ("\n\n".join(docs) + "\n").encode("utf-8")
        path = out_dir / f"{lang}.txt{'.xz' if xz else ''}"
        storage.write_bytes(path, lzma.compress(text) if xz else text)
        written[lang] = len(lines)
    return written
