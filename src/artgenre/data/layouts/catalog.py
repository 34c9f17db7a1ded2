"""The study's ten artists, each standing for one genre (facts from the Kaggle archive).

Names and genres are spelled as in the archive's ``artists.csv``; folder names on disk
replace spaces with underscores. ``paintings`` is the number of images the archive holds
for that artist, which the study used as is (1,916 in all).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Artist:
    name: str  # as in artists.csv ("Pablo Picasso")
    genre: str  # as in artists.csv; several genres are separated by "," ("Primitivism,Surrealism")
    paintings: int
    nationality: str
    years: str

    @property
    def folder(self) -> str:
        """Folder name on disk: spaces become underscores ("Pablo_Picasso")."""
        return self.name.replace(" ", "_")


STUDY_ARTISTS: tuple[Artist, ...] = (
    Artist("Pablo Picasso", "Cubism", 439, "Spanish", "1881 – 1973"),
    Artist("Rembrandt", "Baroque", 262, "Dutch", "1606 – 1669"),
    Artist("Alfred Sisley", "Impressionism", 259, "French,British", "1839 – 1899"),
    Artist("Titian", "High Renaissance,Mannerism", 255, "Italian", "1488 – 1576"),
    Artist("Amedeo Modigliani", "Expressionism", 193, "Italian", "1884 – 1920"),
    Artist("Andy Warhol", "Pop Art", 181, "American", "1928 – 1987"),
    Artist("Frida Kahlo", "Primitivism,Surrealism", 120, "Mexican", "1907 – 1954"),
    Artist("Andrei Rublev", "Byzantine Art", 99, "Russian", "1360 – 1430"),
    Artist("Piet Mondrian", "Neoplasticism", 84, "Dutch", "1872 – 1944"),
    Artist("Jackson Pollock", "Abstract Expressionism", 24, "American", "1912 – 1956"),
)

STUDY_ARTIST_NAMES: tuple[str, ...] = tuple(a.name for a in STUDY_ARTISTS)


def class_name(genre: str, artist: str) -> str:
    """Human-readable class label: "Cubism (Pablo Picasso)", "Primitivism; Surrealism (Frida Kahlo)"."""
    genres = "; ".join(g.strip() for g in genre.split(",") if g.strip())
    return f"{genres} ({artist})"
