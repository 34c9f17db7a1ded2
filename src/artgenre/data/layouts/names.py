"""Artist and folder names as they really are on disk: underscores, NFD accents, mojibake.

The Kaggle archive spells "Albrecht Dürer" in artists.csv, but its folder was zipped from a
Mac (decomposed "u" + U+0308) without the zip UTF-8 flag, so after unpacking it reads
"Albrecht_Du╠êrer" (the UTF-8 bytes decoded as cp437), sometimes "Albrecht_Du╠Иrer" (cp866)
or, unpacked and re-zipped once more, "Albrecht_DuΓòá├¬rer". Names are matched by a key
that survives all of these.
"""

from __future__ import annotations

import re
import unicodedata

# Code pages that unzip tools and old Windows/Mac systems mis-decode UTF-8 bytes with.
MOJIBAKE_CODECS = ("cp437", "cp866", "cp1252", "latin-1", "mac_roman")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def _from_surrogates(text: str) -> str:
    """Names with bytes that are not UTF-8 (os.listdir escapes them as surrogates): read as cp1252."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogateescape")
        return raw.decode("cp1252", errors="replace")


def _undo_once(text: str) -> str:
    if text.isascii():
        return text
    for codec in MOJIBAKE_CODECS:
        try:
            candidate = text.encode(codec).decode("utf-8")
        except UnicodeError:
            continue
        if candidate != text:
            return candidate
    return text


def repair(name: str) -> str:
    """The name as it was meant to be written, NFC-normalised ("Albrecht_Du╠êrer" -> "Albrecht_Dürer").

    Undoes up to three layers of "UTF-8 bytes read in a legacy code page". A real non-ASCII
    name is left alone: its legacy-code-page bytes are almost never valid UTF-8.
    """
    text = _from_surrogates(name)
    for _ in range(3):
        fixed = _undo_once(text)
        if fixed == text:
            break
        text = fixed
    return unicodedata.normalize("NFC", text)


def _ascii_key(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_only = decomposed.encode("ascii", "ignore").decode("ascii").lower()
    return _NON_ALNUM.sub(" ", ascii_only).strip()


def key(name: str) -> str:
    """Match key: repaired, accents dropped, lower case, any run of "_", " ", "-" as one space.

    "Albrecht Dürer", "Albrecht_Dürer", "Albrecht_Du╠êrer" and "albrecht durer" share one key.
    """
    return _ascii_key(repair(name))


def loose_key(name: str) -> str:
    """Fallback key: only the ASCII letters and digits of the raw name.

    Mojibake of a decomposed accent adds only non-ASCII characters around the base letter,
    so even an unknown code page leaves "albrechtdurer"; compare with :func:`loose_key_of_known`.
    """
    return re.sub(r"[^a-z0-9]", "", _from_surrogates(name).lower())


def loose_key_of_known(name: str) -> str:
    """The loose key of a correctly spelled name (artists.csv): accents decomposed first."""
    return key(name).replace(" ", "")


def display(name: str) -> str:
    """A folder or file-name stem as a human name: repaired, underscores as spaces."""
    return repair(name).replace("_", " ").strip()
